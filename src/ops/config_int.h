/*
 * config_int.h: the key table, for config.c and its unit tests only.
 */
#ifndef BL_CONFIG_INT_H
#define BL_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
        CONF_STRING,  /* text; min/max bound its length */
        CONF_SECRET,  /* text never printed */
        CONF_INT,     /* 64-bit integer within min..max */
        CONF_ENUM,    /* one of `values` ("a|b|c"), stored as its index */
        CONF_STRLIST, /* array of text; min/max bound the count */
        CONF_BOOL,    /* true or false */
} conf_type_t;

typedef enum { SOURCE_DEFAULT = 0, SOURCE_FILE = 1, SOURCE_ENV = 2 } conf_source_t;

/* Extra rule for text values (each item of a list): NULL when fine, else why not. */
typedef const char *(conf_text_rule_fn)(const char *value);

typedef struct conf_key_s {
        const char *name;         /* dotted path in the JSON file */
        conf_type_t type;
        size_t offset;            /* into bl_config_t */
        const char *default_json; /* the default, written as JSON */
        int64_t min, max;
        const char *values;       /* CONF_ENUM: the allowed names, '|'-separated */
        conf_text_rule_fn *text_rule;
        size_t item_max_len;      /* CONF_STRLIST: longest item */
        const char *description;
} conf_key_t;

extern const conf_key_t bl_config_keys[];
extern const size_t bl_config_key_count;

/* "topics.partitions" -> "BACKLOGD_TOPICS_PARTITIONS" into out. */
void bl_config_env_name(const char *key, char *out, size_t out_size);

#endif
