/*
 * errors.c - the text for rtlab's own error codes.
 *
 * The codes are defined in rt_proto.h. They live far below libuv's (which are
 * -errno values), so a caller holding an int from either can ask the right
 * strerror: uv_strerror() for libuv's, rt_strerror() for ours.
 */
#include "rt_proto.h"

const char *rt_strerror(int err)
{
    switch (err) {
    case RT_EMORE:
        return "incomplete input: more bytes needed";
    case RT_EBADREQ:
        return "malformed HTTP request";
    case RT_EHEADTOOBIG:
        return "HTTP request head too large";
    case RT_EBODYTOOBIG:
        return "HTTP body too large";
    case RT_ENOTIMPL:
        return "transfer coding not implemented";
    case RT_EVERSION:
        return "HTTP version not supported";
    case RT_EBADRESP:
        return "malformed HTTP response";
    case RT_EBADURL:
        return "unusable URL";
    case RT_EBADJSON:
        return "not a JSON value";
    case RT_EBADNAME:
        return "invalid topic or event name";
    case RT_ENOSPACE:
        return "output buffer too small";
    case RT_EWSPROTO:
        return "WebSocket protocol error";
    case RT_EWSUTF8:
        return "WebSocket text is not valid UTF-8";
    case RT_EWSTOOBIG:
        return "WebSocket message too big";
    case RT_EWSVERSION:
        return "WebSocket version not supported";
    case RT_EWSHANDSHAKE:
        return "bad WebSocket handshake";
    case RT_EWSDEFLATE:
        return "corrupt permessage-deflate data";
    case RT_EWSEXT:
        return "bad Sec-WebSocket-Extensions header";
    case RT_EZLIB:
        return "zlib failed (out of memory?)";
    default:
        return "unknown error";
    }
}
