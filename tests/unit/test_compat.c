/*
 * test_compat.c: Avro schema resolution, one test per rule of the
 * specification's "Schema Resolution" section, each with cases that must
 * pass and cases that must fail with the path and the reason; then the real
 * contracts in schemas/ and the transitive BACKWARD check over versions.
 *
 * Inline schemas are written with single quotes, turned into double quotes
 * before parsing, so that they stay readable.
 */
#include <stdlib.h>

#include "check.h"
#include "contract/compat.h"

#define REASON_BYTES 1024

/* Parses @p text with ' for ". NULL (and a failed check) when it is not JSON. */
static json_t *schema(const char *text) {
        char *copy = strdup(text);
        json_error_t error;
        json_t *json;
        for (char *c = copy; *c; c++)
                if (*c == '\'')
                        *c = '"';
        json = json_loads(copy, JSON_DECODE_ANY, &error);
        if (!json)
                fprintf(stderr, "test schema is not JSON: %s: %s\n", error.text, copy);
        CHECK(json != NULL);
        free(copy);
        return json;
}

static bl_err_t can_read(const char *reader_text, const char *writer_text, char *reason, size_t reason_size) {
        json_t *reader = schema(reader_text), *writer = schema(writer_text);
        bl_err_t err = bl_compat_can_read(reader, writer, reason, reason_size);
        json_decref(reader);
        json_decref(writer);
        return err;
}

#define EXPECT_READS(reader, writer)                                                          \
        do {                                                                                  \
                char reason_[REASON_BYTES] = "";                                              \
                bl_err_t err_ = can_read(reader, writer, reason_, sizeof(reason_));           \
                if (err_ != BL_OK)                                                            \
                        fprintf(stderr, "%s:%d: unexpected: %s\n", __FILE__, __LINE__, reason_); \
                CHECK_INT(err_, BL_OK);                                                       \
        } while (0)

#define EXPECT_FAILS(expected_err, reader, writer, expected_reason)                           \
        do {                                                                                  \
                char reason_[REASON_BYTES] = "";                                              \
                CHECK_INT(can_read(reader, writer, reason_, sizeof(reason_)), expected_err);  \
                CHECK_CONTAINS(reason_, expected_reason);                                     \
        } while (0)

#define EXPECT_MISMATCH(reader, writer, reason) EXPECT_FAILS(BL_ERR_MISMATCH, reader, writer, reason)
#define EXPECT_INVALID(reader, writer, reason) EXPECT_FAILS(BL_ERR_INVALID_ARG, reader, writer, reason)

/* A record R with one field f of @p type, as schema text. */
static const char *record_with(const char *type) {
        static char text[16][1024];
        static int next;
        char *out = text[next++ % 16];
        snprintf(out, sizeof(text[0]), "{'type':'record','name':'R','fields':[{'name':'f','type':%s}]}", type);
        return out;
}

static void test_primitives_equal(void) {
        static const char *const primitives[] = {"'null'", "'boolean'", "'int'",   "'long'",
                                                 "'float'", "'double'", "'bytes'", "'string'"};
        for (size_t i = 0; i < sizeof(primitives) / sizeof(primitives[0]); i++) {
                EXPECT_READS(primitives[i], primitives[i]);
                EXPECT_READS(record_with(primitives[i]), record_with(primitives[i]));
        }
        EXPECT_READS("{'type':'string'}", "'string'");
        EXPECT_MISMATCH("'int'", "'string'", "reader type int cannot read writer type string");
        EXPECT_MISMATCH("'boolean'", "'null'", "reader type boolean cannot read writer type null");
        EXPECT_MISMATCH(record_with("'string'"), record_with("'boolean'"),
                        "R.f: reader type string cannot read writer type boolean");
}

static void test_promotions(void) {
        EXPECT_READS("'long'", "'int'");
        EXPECT_READS("'float'", "'int'");
        EXPECT_READS("'double'", "'int'");
        EXPECT_READS("'float'", "'long'");
        EXPECT_READS("'double'", "'long'");
        EXPECT_READS("'double'", "'float'");
        EXPECT_READS("'bytes'", "'string'");
        EXPECT_READS("'string'", "'bytes'");
        EXPECT_READS(record_with("'double'"), record_with("'int'"));
        /* Never the other way: a narrowing would lose data. */
        EXPECT_MISMATCH("'int'", "'long'", "reader type int cannot read writer type long");
        EXPECT_MISMATCH("'float'", "'double'", "reader type float cannot read writer type double");
        EXPECT_MISMATCH("'long'", "'float'", "reader type long cannot read writer type float");
        EXPECT_MISMATCH("'string'", "'int'", "reader type string cannot read writer type int");
        EXPECT_MISMATCH("'int'", "'boolean'", "reader type int cannot read writer type boolean");
        EXPECT_MISMATCH(record_with("'int'"), record_with("'long'"),
                        "R.f: reader type int cannot read writer type long");
}

static void test_records_match_by_unqualified_name_or_alias(void) {
        EXPECT_READS("{'type':'record','name':'a.b.R','fields':[]}", "{'type':'record','name':'R','fields':[]}");
        EXPECT_READS("{'type':'record','name':'R','namespace':'x','fields':[]}",
                     "{'type':'record','name':'R','namespace':'y','fields':[]}");
        EXPECT_READS("{'type':'record','name':'New','aliases':['Old'],'fields':[]}",
                     "{'type':'record','name':'Old','fields':[]}");
        EXPECT_READS("{'type':'record','name':'New','namespace':'n','aliases':['other.Old'],'fields':[]}",
                     "{'type':'record','name':'Old','namespace':'o','fields':[]}");
        EXPECT_MISMATCH("{'type':'record','name':'New','fields':[]}", "{'type':'record','name':'Old','fields':[]}",
                        "reader record New cannot read writer record Old: the names differ");
        /* A writer alias does not count: resolution maps writer names through the reader's aliases only. */
        EXPECT_MISMATCH("{'type':'record','name':'New','fields':[]}",
                        "{'type':'record','name':'Old','aliases':['New'],'fields':[]}", "the names differ");
        EXPECT_MISMATCH("{'type':'record','name':'R','fields':[]}", "'string'",
                        "reader type record R cannot read writer type string");
}

static void test_fields_match_by_name_or_reader_alias(void) {
        const char *writer = "{'type':'record','name':'R','fields':[{'name':'a','type':'int'},"
                             "{'name':'b','type':'string'}]}";
        EXPECT_READS("{'type':'record','name':'R','fields':[{'name':'b','type':'string'},{'name':'a','type':'int'}]}",
                     writer);
        EXPECT_READS("{'type':'record','name':'R','fields':[{'name':'renamed','aliases':['b'],'type':'string'}]}",
                     writer);
        EXPECT_MISMATCH("{'type':'record','name':'R','fields':[{'name':'renamed','aliases':['b'],'type':'int'}]}",
                        writer, "R.renamed: reader type int cannot read writer type string");
        EXPECT_MISMATCH("{'type':'record','name':'R','fields':[{'name':'a','type':'string'}]}", writer,
                        "R.a: reader type string cannot read writer type int");
        /* A writer field alias is no help. */
        EXPECT_MISMATCH("{'type':'record','name':'R','fields':[{'name':'c','type':'int'}]}",
                        "{'type':'record','name':'R','fields':[{'name':'a','aliases':['c'],'type':'int'}]}",
                        "R.c: reader field has no default");
}

static void test_writer_only_fields_are_ignored(void) {
        EXPECT_READS("{'type':'record','name':'R','fields':[{'name':'a','type':'int'}]}",
                     "{'type':'record','name':'R','fields':[{'name':'a','type':'int'},"
                     "{'name':'gone','type':{'type':'map','values':'bytes'}}]}");
        EXPECT_READS("{'type':'record','name':'R','fields':[]}", record_with("{'type':'array','items':'string'}"));
        /* Ignored or not, the writer must still be a valid schema. */
        EXPECT_INVALID("{'type':'record','name':'R','fields':[]}", record_with("'Missing'"),
                       "writer schema: R.f: unknown type name 'Missing'");
}

static void test_reader_only_fields_need_a_default(void) {
        const char *writer = "{'type':'record','name':'TaskEvent','fields':[{'name':'id','type':'string'}]}";
        EXPECT_READS("{'type':'record','name':'TaskEvent','fields':[{'name':'id','type':'string'},"
                     "{'name':'tier','type':'string','default':'standard'}]}",
                     writer);
        EXPECT_READS("{'type':'record','name':'TaskEvent','fields':[{'name':'id','type':'string'},"
                     "{'name':'tenant','type':['null','string'],'default':null}]}",
                     writer);
        EXPECT_MISMATCH("{'type':'record','name':'TaskEvent','fields':[{'name':'id','type':'string'},"
                        "{'name':'tier','type':'string'}]}",
                        writer, "TaskEvent.tier: reader field has no default and the writer has no such field");
        /* Nested records carry the path down. */
        EXPECT_MISMATCH(record_with("{'type':'record','name':'Inner','fields':[{'name':'x','type':'int'}]}"),
                        record_with("{'type':'record','name':'Inner','fields':[]}"),
                        "R.f.x: reader field has no default");
}

static void test_defaults_must_fit_the_field_type(void) {
        static const char *const valid[] = {
                "{'name':'d','type':'null','default':null}",
                "{'name':'d','type':'boolean','default':true}",
                "{'name':'d','type':'int','default':-2147483648}",
                "{'name':'d','type':'long','default':9007199254740993}",
                "{'name':'d','type':'float','default':1}",
                "{'name':'d','type':'double','default':0.5}",
                "{'name':'d','type':'double','default':'NaN'}",
                "{'name':'d','type':'bytes','default':'\\u00ff\\u0001'}",
                "{'name':'d','type':'string','default':''}",
                "{'name':'d','type':{'type':'fixed','name':'F','size':2},'default':'ab'}",
                "{'name':'d','type':{'type':'enum','name':'E','symbols':['A','B']},'default':'B'}",
                "{'name':'d','type':{'type':'array','items':'int'},'default':[1,2]}",
                "{'name':'d','type':{'type':'map','values':'string'},'default':{'k':'v'}}",
                "{'name':'d','type':['string','null'],'default':'x'}",
                ("{'name':'d','type':{'type':'record','name':'P','fields':[{'name':'x','type':'int'},"
                 "{'name':'y','type':'int','default':0}]},'default':{'x':1}}"),
        };
        static const struct {
                const char *field;
                const char *reason;
        } invalid[] = {
                {"{'name':'d','type':'string','default':1}", "R.d: bad default 1: not a valid string"},
                {"{'name':'d','type':'int','default':4294967296}", "not a valid int"},
                {"{'name':'d','type':'int','default':1.5}", "not a valid int"},
                {"{'name':'d','type':'boolean','default':null}", "not a valid boolean"},
                {"{'name':'d','type':'bytes','default':'\\u0100'}", "not a valid bytes"},
                {"{'name':'d','type':{'type':'fixed','name':'F','size':2},'default':'abc'}", "not a valid fixed F"},
                {"{'name':'d','type':{'type':'enum','name':'E','symbols':['A']},'default':'Z'}", "not a valid enum E"},
                {"{'name':'d','type':{'type':'array','items':'int'},'default':['x']}", "not a valid int"},
                {"{'name':'d','type':{'type':'map','values':'int'},'default':[]}", "not a valid map of int"},
                {"{'name':'d','type':['null','string'],'default':'x'}",
                 "a union's default must fit its first branch, null"},
                {"{'name':'d','type':{'type':'record','name':'P','fields':[{'name':'x','type':'int'}]},'default':{}}",
                 "field x of record P is missing and has no default"},
                {"{'name':'d','type':{'type':'enum','name':'E','symbols':['A'],'default':'B'}}",
                 "enum E: the default must be one of its symbols"},
        };
        char text[1024];
        for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
                snprintf(text, sizeof(text), "{'type':'record','name':'R','fields':[%s]}", valid[i]);
                EXPECT_READS(text, text);
        }
        for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
                snprintf(text, sizeof(text), "{'type':'record','name':'R','fields':[%s]}", invalid[i].field);
                EXPECT_INVALID(text, "{'type':'record','name':'R','fields':[]}", invalid[i].reason);
                EXPECT_INVALID("{'type':'record','name':'R','fields':[]}", text, "writer schema: ");
        }
}

static void test_enums(void) {
        const char *writer = record_with("{'type':'enum','name':'EventType','symbols':['SUBMITTED','PAUSED']}");
        EXPECT_READS(writer, writer);
        EXPECT_READS(record_with("{'type':'enum','name':'EventType','symbols':['PAUSED','SUBMITTED','NEW']}"), writer);
        EXPECT_READS(record_with("{'type':'enum','name':'EventType','symbols':['SUBMITTED','UNKNOWN'],"
                                 "'default':'UNKNOWN'}"),
                     writer);
        EXPECT_MISMATCH(record_with("{'type':'enum','name':'EventType','symbols':['SUBMITTED']}"), writer,
                        "R.f: writer symbol PAUSED is not in the reader enum EventType, which has no default");
        EXPECT_MISMATCH(record_with("{'type':'enum','name':'EventType','symbols':['OTHER']}"), writer,
                        "writer symbols SUBMITTED, PAUSED are not in the reader enum EventType");
        EXPECT_MISMATCH(record_with("{'type':'enum','name':'Kind','symbols':['SUBMITTED','PAUSED']}"), writer,
                        "reader enum Kind cannot read writer enum EventType: the names differ");
        EXPECT_READS(record_with("{'type':'enum','name':'Kind','aliases':['EventType'],'symbols':['SUBMITTED',"
                                 "'PAUSED']}"),
                     writer);
}

static void test_fixed(void) {
        EXPECT_READS("{'type':'fixed','name':'Hash','size':16}", "{'type':'fixed','name':'Hash','size':16}");
        EXPECT_READS("{'type':'fixed','name':'a.Hash','size':16}", "{'type':'fixed','name':'b.Hash','size':16}");
        EXPECT_MISMATCH("{'type':'fixed','name':'Hash','size':16}", "{'type':'fixed','name':'Hash','size':32}",
                        "reader fixed Hash has size 16, the writer's has size 32");
        EXPECT_MISMATCH("{'type':'fixed','name':'Hash','size':16}", "{'type':'fixed','name':'Digest','size':16}",
                        "reader fixed Hash cannot read writer fixed Digest");
        EXPECT_MISMATCH("{'type':'fixed','name':'Hash','size':16}", "'bytes'",
                        "reader type fixed Hash cannot read writer type bytes");
}

static void test_arrays_by_items(void) {
        EXPECT_READS(record_with("{'type':'array','items':'long'}"), record_with("{'type':'array','items':'int'}"));
        EXPECT_READS("{'type':'array','items':{'type':'array','items':'string'}}",
                     "{'type':'array','items':{'type':'array','items':'bytes'}}");
        EXPECT_MISMATCH(record_with("{'type':'array','items':'int'}"), record_with("{'type':'array','items':'long'}"),
                        "R.f[]: reader type int cannot read writer type long");
        EXPECT_MISMATCH(record_with("{'type':'array','items':'int'}"), record_with("{'type':'map','values':'int'}"),
                        "R.f: reader type array of int cannot read writer type map of int");
}

static void test_maps_by_values(void) {
        EXPECT_READS(record_with("{'type':'map','values':'double'}"), record_with("{'type':'map','values':'float'}"));
        EXPECT_MISMATCH(record_with("{'type':'map','values':'string'}"),
                        record_with("{'type':'map','values':'boolean'}"),
                        "R.f{}: reader type string cannot read writer type boolean");
        EXPECT_MISMATCH(record_with("{'type':'map','values':'int'}"), record_with("'string'"),
                        "R.f: reader type map of int cannot read writer type string");
}

static void test_reader_unions(void) {
        EXPECT_READS(record_with("['null','string']"), record_with("'string'"));
        EXPECT_READS(record_with("['null','long']"), record_with("'int'"));
        EXPECT_READS(record_with("['null','string','int']"), record_with("['null','string']"));
        EXPECT_READS(record_with("['string','null']"), record_with("['null','string']"));
        EXPECT_MISMATCH(record_with("['null','string']"), record_with("'boolean'"),
                        "R.f: writer type boolean matches no branch of the reader's union [null, string]");
        EXPECT_MISMATCH(record_with("['null','string']"), record_with("['null','string','int']"),
                        "writer type int matches no branch");
        /* A branch of the same name that fails says why, deep down. */
        EXPECT_MISMATCH(record_with("['null',{'type':'record','name':'Err','fields':[{'name':'code','type':'int'}]}]"),
                        record_with("['null',{'type':'record','name':'Err','fields':[{'name':'code',"
                                    "'type':'string'}]}]"),
                        "R.f.code: reader type int cannot read writer type string");
}

static void test_writer_unions_into_a_non_union(void) {
        EXPECT_READS(record_with("'long'"), record_with("['int','long']"));
        EXPECT_READS(record_with("'string'"), record_with("['string']"));
        EXPECT_MISMATCH(record_with("'string'"), record_with("['null','string']"),
                        "R.f: reader type string cannot read writer type null");
        EXPECT_MISMATCH(record_with("'int'"), record_with("['int','long']"),
                        "reader type int cannot read writer type long");
}

static void test_named_type_references(void) {
        const char *state = "{'type':'enum','name':'TaskState','symbols':['QUEUED','DONE']}";
        char text[2048];
        /* A short name used after its definition in an earlier field, inheriting the namespace. */
        snprintf(text, sizeof(text),
                 "{'type':'record','name':'Transition','namespace':'io.backlogd','fields':["
                 "{'name':'from','type':['null',%s],'default':null},{'name':'to','type':'TaskState'}]}",
                 state);
        EXPECT_READS(text, text);
        /* The full name works too, and finds the same type. */
        EXPECT_READS("{'type':'record','name':'io.backlogd.E','fields':[{'name':'a','type':{'type':'record',"
                     "'name':'TaskError','fields':[]}},{'name':'b','type':'io.backlogd.TaskError'}]}",
                     "{'type':'record','name':'E','namespace':'io.backlogd','fields':[{'name':'a','type':{'type':"
                     "'record','name':'TaskError','fields':[]}},{'name':'b','type':'TaskError'}]}");
        /* A nested namespace: Inner is x.y.Inner, its own Leaf is x.y.Leaf, the outer reference needs the full name. */
        EXPECT_READS("{'type':'record','name':'Outer','namespace':'x','fields':["
                     "{'name':'i','type':{'type':'record','name':'Inner','namespace':'x.y','fields':["
                     "{'name':'l','type':{'type':'fixed','name':'Leaf','size':1}},{'name':'m','type':'Leaf'}]}},"
                     "{'name':'again','type':'x.y.Leaf'}]}",
                     "{'type':'record','name':'Outer','namespace':'x','fields':["
                     "{'name':'i','type':{'type':'record','name':'Inner','namespace':'x.y','fields':["
                     "{'name':'l','type':{'type':'fixed','name':'Leaf','size':1}},{'name':'m','type':'Leaf'}]}},"
                     "{'name':'again','type':'x.y.Leaf'}]}");
        EXPECT_INVALID("{'type':'record','name':'Outer','namespace':'x','fields':["
                       "{'name':'i','type':{'type':'record','name':'Inner','namespace':'x.y','fields':[]}},"
                       "{'name':'again','type':'Inner'}]}",
                       "'null'", "reader schema: Outer.again: unknown type name 'Inner'");
        /* A type of the null namespace is found from inside a namespace. */
        EXPECT_READS("{'type':'record','name':'Outer','namespace':'x','fields':["
                     "{'name':'a','type':{'type':'enum','name':'Plain','namespace':'','symbols':['A']}},"
                     "{'name':'b','type':'Plain'}]}",
                     "{'type':'record','name':'Outer','fields':[{'name':'a','type':{'type':'enum','name':'Plain',"
                     "'symbols':['A']}},{'name':'b','type':'Plain'}]}");
        /* The reference resolves to the definition, so a mismatch there shows through it. */
        snprintf(text, sizeof(text),
                 "{'type':'record','name':'T','fields':[{'name':'a','type':%s},{'name':'b','type':'TaskState'}]}",
                 "{'type':'enum','name':'TaskState','symbols':['QUEUED']}");
        char writer[1024];
        snprintf(writer, sizeof(writer),
                 "{'type':'record','name':'T','fields':[{'name':'a','type':'string'},{'name':'b','type':%s}]}",
                 state);
        EXPECT_MISMATCH(text, writer, "T.a: reader type enum TaskState cannot read writer type string");
        EXPECT_INVALID("{'type':'record','name':'T','fields':[{'name':'b','type':'TaskState'},{'name':'a','type':"
                       "{'type':'enum','name':'TaskState','symbols':['A']}}]}",
                       "'null'", "T.b: unknown type name 'TaskState'");
}

static void test_recursive_records(void) {
        const char *list = "{'type':'record','name':'Node','fields':[{'name':'value','type':'int'},"
                           "{'name':'next','type':['null','Node'],'default':null}]}";
        const char *tree = "{'type':'record','name':'Tree','fields':[{'name':'children','type':{'type':'array',"
                           "'items':'Tree'}},{'name':'meta','type':{'type':'map','values':'Tree'}}]}";
        const char *mutual = "{'type':'record','name':'A','fields':[{'name':'b','type':['null',{'type':'record',"
                             "'name':'B','fields':[{'name':'a','type':['null','A']}]}]}]}";
        EXPECT_READS(list, list);
        EXPECT_READS(tree, tree);
        EXPECT_READS(mutual, mutual);
        EXPECT_READS("{'type':'record','name':'Node','fields':[{'name':'value','type':'long'},"
                     "{'name':'next','type':['null','Node'],'default':null},"
                     "{'name':'label','type':'string','default':''}]}",
                     list);
        EXPECT_MISMATCH("{'type':'record','name':'Node','fields':[{'name':'value','type':'int'},"
                        "{'name':'next','type':['null','Node'],'default':null},{'name':'label','type':'string'}]}",
                        list, "Node.label: reader field has no default");
        EXPECT_MISMATCH("{'type':'record','name':'A','fields':[{'name':'b','type':['null',{'type':'record',"
                        "'name':'B','fields':[{'name':'a','type':['null','A']},{'name':'n','type':'int'}]}]}]}",
                        mutual, "A.b.n: reader field has no default");
}

/* R40 holds R39 twice, which holds R38 twice...: 2^40 paths, 41 record pairs. */
static char *shared_chain(int levels, const char *bottom_fields) {
        size_t size = 1 << 16;
        char *text = malloc(size), *built = malloc(size);
        snprintf(text, size, "{'type':'record','name':'R0','fields':[%s]}", bottom_fields);
        for (int k = 1; k <= levels; k++) {
                snprintf(built, size, "{'type':'record','name':'R%d','fields':[{'name':'a','type':%s},"
                         "{'name':'b','type':'R%d'}]}", k, text, k - 1);
                memcpy(text, built, size);
        }
        free(built);
        return text;
}

static void test_shared_types_are_walked_once(void) {
        char *writer = shared_chain(40, "{'name':'v','type':'int'}");
        char *reader = shared_chain(40, "{'name':'v','type':'long'},{'name':'w','type':'int','default':0}");
        char *strict = shared_chain(40, "{'name':'v','type':'long'},{'name':'w','type':'int'}");
        EXPECT_READS(writer, writer);
        EXPECT_READS(reader, writer);
        EXPECT_MISMATCH(strict, writer, "R40.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a."
                                        "a.a.a.w: reader field has no default");
        free(strict);
        free(reader);
        free(writer);
}

static void test_logical_types_are_ignored(void) {
        const char *millis = "{'type':'long','logicalType':'timestamp-millis'}";
        EXPECT_READS(millis, "'long'");
        EXPECT_READS("'long'", millis);
        EXPECT_READS(millis, "'int'");
        EXPECT_READS(record_with("['null',{'type':'long','logicalType':'timestamp-millis'}]"), record_with("'long'"));
        EXPECT_READS("{'type':'bytes','logicalType':'decimal','precision':4,'scale':2}", "'bytes'");
        EXPECT_MISMATCH("'int'", millis, "reader type int cannot read writer type long");
}

static void test_malformed_schemas(void) {
        static const struct {
                const char *schema;
                const char *reason;
        } malformed[] = {
                {"'Nope'", "unknown type name 'Nope'"},
                {"{'type':'record','name':'R','fields':[{'name':'a','type':'int'},{'name':'a','type':'long'}]}",
                 "R: field a is defined twice"},
                {"{'type':'record','name':'R','fields':[{'name':'a','type':{'type':'record','name':'R','fields':[]}}]}",
                 "R.a: type R is defined twice"},
                {"{'type':'record','name':'R'}", "record R needs a \"fields\" array"},
                {"{'type':'record','fields':[]}", "a record needs a \"name\" string"},
                {"{'type':'record','name':'9lives','fields':[]}", "'9lives' is not a valid name for a record"},
                {"{'type':'record','name':'int','fields':[]}", "'int' is not a valid name"},
                {"{'type':'record','name':'R','fields':[{'name':'a-b','type':'int'}]}",
                 "'a-b' is not a valid field name"},
                {"{'type':'record','name':'R','fields':[{'name':'a'}]}", "R.a: the field needs a \"type\""},
                {"{'type':'enum','name':'E','symbols':['A','A']}", "enum E: symbol A is given twice"},
                {"{'type':'enum','name':'E','symbols':['A',1]}", "enum E: symbol 1 is not a valid name"},
                {"{'type':'fixed','name':'F','size':-1}", "fixed F needs a \"size\""},
                {"{'type':'array'}", "an array needs \"items\""},
                {"['null',['int']]", "a union may not hold a union directly"},
                {"['string','null','string']", "a union holds string twice"},
                {"[{'type':'fixed','name':'F','size':1},'F']", "a union holds fixed F twice"},
                {"{'type':12}", "a schema object needs a \"type\" string"},
                {"42", "a schema must be a type name, an object or an array"},
        };
        for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
                EXPECT_INVALID(malformed[i].schema, "'null'", malformed[i].reason);
                EXPECT_INVALID("'null'", malformed[i].schema, "writer schema: ");
        }
        char reason[REASON_BYTES] = "";
        CHECK_INT(bl_compat_can_read(NULL, NULL, reason, sizeof(reason)), BL_ERR_INVALID_ARG);
        CHECK_CONTAINS(reason, "reader schema: no schema");
}

/* ---- the real contracts ---- */

static json_t *load_contract(const char *relative) {
        char path[1024];
        json_error_t error;
        json_t *json;
        snprintf(path, sizeof(path), "%s/%s", BL_SCHEMAS_DIR, relative);
        json = json_load_file(path, 0, &error);
        if (!json)
                fprintf(stderr, "%s: %s\n", path, error.text);
        CHECK(json != NULL);
        return json;
}

static void test_real_schemas(void) {
        static const char *const every[] = {"task_event/v1.avsc", "task_event/v2.avsc", "task_event/v3.avsc", "transition/v1.avsc",
                                            "backlog_item/v1.avsc", "dispatch_decision/v1.avsc",
                                            "dependency_notice/v1.avsc"};
        char reason[REASON_BYTES] = "";
        json_t *v1 = load_contract("task_event/v1.avsc"), *v2 = load_contract("task_event/v2.avsc");
        for (size_t i = 0; i < sizeof(every) / sizeof(every[0]); i++) {
                json_t *contract = load_contract(every[i]);
                CHECK_INT(bl_compat_can_read(contract, contract, reason, sizeof(reason)), BL_OK);
                json_decref(contract);
        }
        CHECK_INT(bl_compat_can_read(v2, v1, reason, sizeof(reason)), BL_OK);
        /* v3 (actor, reason, REJECTED) reads v1 and v2 data */
        json_t *newest = load_contract("task_event/v3.avsc");
        CHECK_INT(bl_compat_can_read(newest, v1, reason, sizeof(reason)), BL_OK);
        CHECK_INT(bl_compat_can_read(newest, v2, reason, sizeof(reason)), BL_OK);
        /* and v2 cannot read a v3 REJECTED: the symbol is new (the registry's FORWARD check would say so) */
        CHECK_INT(bl_compat_can_read(v2, newest, reason, sizeof(reason)), BL_ERR_MISMATCH);
        json_decref(newest);

        /* v3 = v2 with a required field: it cannot read v1 or v2 data. */
        json_t *v3 = json_deep_copy(v2);
        json_array_append_new(json_object_get(v3, "fields"), json_pack("{s:s, s:s}", "name", "tier", "type", "string"));
        CHECK_INT(bl_compat_can_read(v3, v1, reason, sizeof(reason)), BL_ERR_MISMATCH);
        CHECK_STR(reason, "TaskEvent.tier: reader field has no default and the writer has no such field");

        /* v2 with FAILED dropped from EventType cannot read v1's FAILED events. */
        json_t *fewer = json_deep_copy(v2);
        json_t *symbols = json_object_get(json_object_get(json_array_get(json_object_get(fewer, "fields"), 2), "type"),
                                          "symbols");
        json_array_remove(symbols, json_array_size(symbols) - 1);
        CHECK_INT(bl_compat_can_read(fewer, v1, reason, sizeof(reason)), BL_ERR_MISMATCH);
        CHECK_STR(reason, "TaskEvent.event_type: writer symbol FAILED is not in the reader enum EventType, which has "
                          "no default");
        json_decref(fewer);
        json_decref(v3);
        json_decref(v2);
        json_decref(v1);
}

/* ---- BACKWARD_TRANSITIVE ---- */

typedef struct failures_s {
        int count;
        char text[8][REASON_BYTES];
} failures_t;

static void collect_failure(const bl_compat_failure_t *failure, void *opaque) {
        failures_t *failures = opaque;
        if (failures->count < 8)
                snprintf(failures->text[failures->count], REASON_BYTES, "%zu<-%zu %s: %s", failure->reader_index,
                         failure->writer_index, bl_err_name(failure->err), failure->reason);
        failures->count++;
}

static void test_backward_transitive(void) {
        /* v1..v2 add b with a default; v3 drops the default: it reads v2 (which has b) but not v1. */
        json_t *versions[] = {
                schema("{'type':'record','name':'R','fields':[{'name':'a','type':'int'}]}"),
                schema("{'type':'record','name':'R','fields':[{'name':'a','type':'long'},"
                       "{'name':'b','type':'string','default':''}]}"),
                schema("{'type':'record','name':'R','fields':[{'name':'a','type':'long'},"
                       "{'name':'b','type':'string'}]}"),
                NULL, /* a version that is not a schema at all */
        };
        const json_t *const *list = (const json_t *const *)versions;
        char reason[REASON_BYTES] = "";
        failures_t failures = {0};

        CHECK_INT(bl_compat_check_backward_transitive(list, 0, reason, sizeof(reason)), BL_OK);
        CHECK_INT(bl_compat_check_backward_transitive(list, 1, reason, sizeof(reason)), BL_OK);
        CHECK_INT(bl_compat_check_backward_transitive(list, 2, reason, sizeof(reason)), BL_OK);
        CHECK_INT(bl_compat_check_backward_transitive(list, 3, reason, sizeof(reason)), BL_ERR_MISMATCH);
        CHECK_STR(reason, "version 3 cannot read version 1: R.b: reader field has no default and the writer has no "
                          "such field");
        CHECK_INT(bl_compat_check_each_backward(list, 3, collect_failure, &failures), BL_ERR_MISMATCH);
        CHECK_INT(failures.count, 1);
        CHECK_CONTAINS(failures.text[0], "2<-0 BL_ERR_MISMATCH: R.b:");

        failures.count = 0;
        CHECK_INT(bl_compat_check_backward_transitive(list, 4, reason, sizeof(reason)), BL_ERR_INVALID_ARG);
        CHECK_STR(reason, "version 4: malformed schema: no schema");
        CHECK_INT(bl_compat_check_each_backward(list, 4, collect_failure, &failures), BL_ERR_INVALID_ARG);
        CHECK_INT(failures.count, 1);
        CHECK_CONTAINS(failures.text[0], "3<-3 BL_ERR_INVALID_ARG");

        /* Every failing pair is reported, newest reader last. */
        json_decref(versions[1]);
        versions[1] = schema("{'type':'record','name':'R','fields':[{'name':'c','type':'int'}]}");
        failures.count = 0;
        CHECK_INT(bl_compat_check_each_backward(list, 3, collect_failure, &failures), BL_ERR_MISMATCH);
        CHECK_INT(failures.count, 3);
        CHECK_CONTAINS(failures.text[0], "1<-0 BL_ERR_MISMATCH: R.c:");
        CHECK_CONTAINS(failures.text[1], "2<-1 BL_ERR_MISMATCH: R.a:");
        CHECK_CONTAINS(failures.text[2], "2<-0 BL_ERR_MISMATCH: R.b:");
        for (size_t i = 0; i < 4; i++)
                json_decref(versions[i]);
}

int main(void) {
        RUN(test_primitives_equal);
        RUN(test_promotions);
        RUN(test_records_match_by_unqualified_name_or_alias);
        RUN(test_fields_match_by_name_or_reader_alias);
        RUN(test_writer_only_fields_are_ignored);
        RUN(test_reader_only_fields_need_a_default);
        RUN(test_defaults_must_fit_the_field_type);
        RUN(test_enums);
        RUN(test_fixed);
        RUN(test_arrays_by_items);
        RUN(test_maps_by_values);
        RUN(test_reader_unions);
        RUN(test_writer_unions_into_a_non_union);
        RUN(test_named_type_references);
        RUN(test_recursive_records);
        RUN(test_shared_types_are_walked_once);
        RUN(test_logical_types_are_ignored);
        RUN(test_malformed_schemas);
        RUN(test_real_schemas);
        RUN(test_backward_transitive);
        return check_exit_status();
}
