/*
 * rt_scenario.h - scenario files for `rtlab sim SCENARIO.json`: one use case
 * of the real-time updates design space (chat, a trading ticker, ...) as a
 * JSON object read into a struct rt_sim_config. See docs/sim.md, "Scenarios".
 *
 * Every field is checked: an unknown field, a wrong type or a value out of
 * range is refused with a message that names the file and the field, e.g.
 * "chat.json: clients must be an integer from 1 to 4294967295, not 0".
 */
#ifndef RT_SCENARIO_H
#define RT_SCENARIO_H

#include <stddef.h>

#include "rt_sim.h"

/* Error codes of rt_sim_scenario_load/_parse; err then says which field. */
#define RT_SIM_SCENARIO_EREAD (-10)  /* the file cannot be read */
#define RT_SIM_SCENARIO_EJSON (-11)  /* not JSON, or not one object */
#define RT_SIM_SCENARIO_EFIELD (-12) /* an unknown, repeated or missing field */
#define RT_SIM_SCENARIO_ETYPE (-13)  /* a field of the wrong JSON type */
#define RT_SIM_SCENARIO_ERANGE (-14) /* a value out of its range */

/* Limits on the two text fields, so the struct needs no heap. */
#define RT_SIM_SCENARIO_TEXT_MAX 1024

/* What a scenario says beyond the configuration. Caller-owned storage with
 * no pointers: nothing to free. */
struct rt_sim_scenario {
    char description[RT_SIM_SCENARIO_TEXT_MAX]; /* what is simulated */
    char why[RT_SIM_SCENARIO_TEXT_MAX];         /* the article's reasoning */
};

/*
 * Reads the scenario file at path into c and s. c should hold the defaults
 * (rt_sim_config_init) or anything the scenario should override; only the
 * fields the file gives are written. Returns 0, or one of the codes above
 * with err naming the file and the field. The file's name in messages is
 * path as given.
 */
int rt_sim_scenario_load(const char *path, struct rt_sim_config *c, struct rt_sim_scenario *s,
                         char *err, size_t err_len);

/* The same from text already in memory (len bytes, NUL not needed); name is
 * what messages call the file. */
int rt_sim_scenario_parse(const char *name, const char *text, size_t len, struct rt_sim_config *c,
                          struct rt_sim_scenario *s, char *err, size_t err_len);

#endif
