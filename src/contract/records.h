/*
 * records.h: the records backlogd writes and reads back, between the
 * backlog's structs (core/item.h, core/backlog.h) and Avro in the Confluent
 * wire format: BacklogItem snapshots (backlog.state), Transitions
 * (backlog.transitions), DispatchDecisions (dispatch.<domain>) and
 * DependencyNotices (backlog.deps).
 *
 * Encoding writes the Avro bytes directly, in the contract's field order,
 * checked field by field against the schema (records_encode.c), into a
 * buffer that is reused from record to record. Decoding
 * takes any writer schema id the cache knows and reads fields by name, so a
 * newer version with added fields still decodes; a field the writer lacks
 * takes the contract's default, and a required one it lacks is an error that
 * names it.
 *
 * Mapping between C and the contracts: BL_NO_TIME <-> null for the optional
 * timestamps; NULL strings <-> null for the optional strings; max_attempts 0
 * <-> null; has_last_error <-> last_error; states and notice kinds by symbol
 * name, never by index. A placeholder item has no task_type or domain yet:
 * NULL is written as "" (the fields are required strings) and "" reads back
 * as NULL.
 *
 * Not thread-safe: decoding reads into the cache's reusable values and an
 * encoder writes into its own buffer, so one cache and one encoder per
 * thread.
 */
#ifndef BL_RECORDS_H
#define BL_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "contract/avro_out.h"
#include "contract/schemas.h"
#include "core/backlog.h"
#include "core/item.h"
#include "core/reason.h"
#include "base/err.h"

/* ---- encoding -------------------------------------------------------------- */

/**
 * The bytes of the last record encoded into it: header and Avro body, size
 * bytes. Start from all zeroes; it grows to the largest record seen and is
 * reused. bl_records_buffer_free releases it.
 */
typedef bl_avro_out_t bl_records_buffer_t;

void bl_records_buffer_free(bl_records_buffer_t *buffer);

/**
 * Encodes @p item as a BacklogItem of @p schema framed with @p schema_id
 * (the id records carry: the registry's, or the catalog's) into @p out. The
 * payload is written only with @p with_payload. On failure errstr names
 * the field: BL_ERR_NOMEM; BL_ERR_MISMATCH when @p schema is another
 * record, has a field this code does not fill, lacks one it does or has no
 * symbol for a value (the contract and the code are out of step, or the
 * state is not a bl_state_t); BL_ERR_INVALID_ARG when the item's label keys
 * and values differ in number.
 */
bl_err_t bl_records_encode_item(bl_schema_t *schema, int32_t schema_id, const bl_item_t *item, bool with_payload,
                                bl_records_buffer_t *out, char *errstr, size_t errstr_size);

/**
 * Encodes @p transition with the item after it (@p item_after, NULL for
 * none; its payload only with @p with_payload), the rationale, the source
 * of the causing event (null fields when transition->origin is NULL) and
 * @p instance (the transactional id). Errors as bl_records_encode_item.
 */
bl_err_t bl_records_encode_transition(bl_schema_t *schema, int32_t schema_id, const bl_transition_t *transition,
                                      const bl_item_t *item_after, bool with_payload, const char *instance,
                                      bl_records_buffer_t *out, char *errstr, size_t errstr_size);

/**
 * Encodes @p dispatch: task_id, attempt, domain, task_type, tenant,
 * lease_expires_at, deadline, labels and payload come from dispatch->item.
 */
bl_err_t bl_records_encode_dispatch(bl_schema_t *schema, int32_t schema_id, const bl_dispatch_t *dispatch,
                                    bl_records_buffer_t *out, char *errstr, size_t errstr_size);

/** Encodes @p notice; its outcome is written only for an OUTCOME. */
bl_err_t bl_records_encode_notice(bl_schema_t *schema, int32_t schema_id, const bl_notice_t *notice,
                                  bl_records_buffer_t *out, char *errstr, size_t errstr_size);

/** The ids the four record kinds carry. */
typedef struct bl_records_ids_s {
        int32_t item;       /* BacklogItem, backlog.state */
        int32_t transition; /* Transition, backlog.transitions */
        int32_t dispatch;   /* DispatchDecision, dispatch.<domain> */
        int32_t notice;     /* DependencyNotice, backlog.deps */
} bl_records_ids_t;

/**
 * The encoder the pipeline uses: the compiled shapes of the newest catalog
 * version of each of the four contracts, the ids their records carry, the
 * instance name, and one output buffer.
 */
typedef struct bl_records_s bl_records_t;

/**
 * An encoder over @p schemas (borrowed; it must outlive the encoder). @p ids
 * are the ids to frame with, as bl_schemas_publish returned them; NULL
 * takes the catalog ids (no registry). @p instance is copied. Encodes one
 * record of each kind to prove that the contracts and the code agree: NULL
 * with errstr naming the contract and field otherwise.
 */
bl_records_t *bl_records_new(bl_schemas_t *schemas, const bl_records_ids_t *ids, const char *instance, char *errstr,
                             size_t errstr_size);
void bl_records_destroy(bl_records_t *records);

/**
 * Encodes one record. On BL_OK *value and *size are the framed bytes,
 * owned by @p records and valid until its next call: hand them to the
 * producer with RD_KAFKA_MSG_F_COPY. Otherwise bl_records_last_error says
 * why (out of memory, or a struct the contract cannot carry).
 */
bl_err_t bl_records_item(bl_records_t *records, const bl_item_t *item, bool with_payload, const void **value,
                         size_t *size);
/*
 * A Transition v3 (the contract's newest) tells the item after the change
 * as changes against the task's transition before when @p records wrote
 * that one (seq - 1) since the last bl_records_forget_changes, and against
 * a fresh item otherwise (schemas/transition/v3.avsc says how). The caller
 * forgets at the end of each transaction, committed or aborted, so that a
 * transaction's first transition of each task carries its whole item.
 */
bl_err_t bl_records_transition(bl_records_t *records, const bl_transition_t *transition, const bl_item_t *item_after,
                               bool with_payload, const void **value, size_t *size);

/** Forgets what each task's last transition told: the transaction they were written in is over. */
void bl_records_forget_changes(bl_records_t *records);
/**
 * One change as backlog.transitions and backlog.state take it: the
 * Transition with the item after it (its payload only with @p with_payload)
 * and the item's snapshot, with its payload. The item is encoded once: the
 * transition carries a copy of the snapshot's bytes when the two contracts
 * agree on the BacklogItem record. Both values are owned by @p records and
 * valid until its next call.
 */
bl_err_t bl_records_change(bl_records_t *records, const bl_transition_t *transition, const bl_item_t *item,
                           bool with_payload, const void **transition_value, size_t *transition_size,
                           const void **snapshot_value, size_t *snapshot_size);
bl_err_t bl_records_dispatch(bl_records_t *records, const bl_dispatch_t *dispatch, const void **value, size_t *size);
bl_err_t bl_records_notice(bl_records_t *records, const bl_notice_t *notice, const void **value, size_t *size);

/** Why the last call on @p records failed; "" after a success. */
const char *bl_records_last_error(const bl_records_t *records);

/* ---- decoding -------------------------------------------------------------- *
 *
 * Every decode takes the whole record value (header and body), looks the
 * writer schema up by its id, checks that it is the expected record, walks
 * the bytes with bl_avro_bounds_check before avro-c reads them, and copies
 * what it needs: nothing returned points into @p value or the schema cache.
 * NULL with @p error on failure: transient when the registry cannot answer
 * now (retry later; error->pending while its schema is being fetched), otherwise permanent with decode.wire_format,
 * decode.schema_unknown, decode.avro or contract.incompatible and the field
 * in the detail. A tombstone (NULL value) is the caller's to recognise.
 */

/**
 * A new item, owned by the caller (bl_item_destroy), in @p partition. Read
 * straight from the bytes where the writer schema and the bytes allow it
 * (contract/records_item.c, restore's path); otherwise, and for the verdict
 * on bytes that reader declines, through avro-c's generic values as below.
 */
bl_item_t *bl_records_decode_item(bl_schemas_t *schemas, const void *value, size_t size, int32_t partition,
                                  bl_record_error_t *error);

/**
 * Where bl_records_decode_item_view reads snapshots in place, one after the
 * other: the item it hands out (its kind a reference of the view's own), its
 * cold fields, and the scratch its texts are copied to. Start from all
 * zeroes; bl_records_item_view_free at the end.
 */
typedef struct bl_records_item_view_s {
        bl_item_t *item; /* made on the first read, reused (an item ends in its task_id's storage: not embedded) */
        bl_item_cold_t cold;
        char *scratch;
        size_t scratch_capacity;
        void *record; /* records_item.c's: the record as its first pass found it, for bl_records_item_view_whole */
} bl_records_item_view_t;

/**
 * As bl_records_decode_item, without making the item when the direct reader
 * takes the record (restore's path for a task at rest, which the backlog
 * freezes straight from it): *@p borrowed true and the item is
 * view->item, its payload pointing into @p value and its other texts into
 * the view, good until the view's next use or @p value goes; the caller
 * never changes what it points to nor destroys it. When the direct reader
 * declines it, an item of the caller's own as bl_records_decode_item's,
 * *@p borrowed false.
 */
bl_item_t *bl_records_decode_item_view(bl_schemas_t *schemas, const void *value, size_t size, int32_t partition,
                                       bl_records_item_view_t *view, bool *borrowed, bl_record_error_t *error);

/**
 * A whole item of the caller's own (bl_item_destroy), equal to the view
 * bl_records_decode_item_view last handed out of @p view, whose record's
 * bytes must still be there: for a task the backlog does not take from a
 * view. NULL when out of memory.
 */
bl_item_t *bl_records_item_view_whole(const bl_records_item_view_t *view);

/** Frees what @p view holds and zeroes it. */
void bl_records_item_view_free(bl_records_item_view_t *view);

/**
 * The same, always through avro-c's generic values: for writer schemas the
 * direct reader does not plan, and as the oracle tests hold it to.
 */
bl_item_t *bl_records_decode_item_generic(bl_schemas_t *schemas, const void *value, size_t size, int32_t partition,
                                          bl_record_error_t *error);

/** A Transition read back, for audit and replay. Owns everything it points to. */
typedef struct bl_transition_record_s {
        bl_transition_t transition; /* strings and rationale owned by the record; origin is &origin or NULL */
        bl_event_origin_t origin;   /* source_topic/partition/offset; partition and offset -1 when null */
        char *instance;
        bl_item_t *item;            /* the item after the change, in the partition given; NULL when absent */
        bl_provenance_t provenance; /* transition.provenance points here when a field is set (v2) */
        /*
         * A v3 record told against the task's transition before (seq - 1), which the reader did not have
         * (it started after it): item is NULL, and what the record gave as before is not known: cause and
         * instance read "unknown", event_id, occurred_at and the origin are absent.
         */
        bool unknown_before;
} bl_transition_record_t;

void bl_transition_record_destroy(bl_transition_record_t *record);

/**
 * A Transition of any version. A v3 record that tells its item against the
 * task's transition before comes back with unknown_before: read them with
 * a bl_transition_reader_t (contract/transitions.h), which keeps what
 * they need.
 */
bl_transition_record_t *bl_records_decode_transition(bl_schemas_t *schemas, const void *value, size_t size,
                                                     int32_t partition, bl_record_error_t *error);

/**
 * The same, with @p before the task's transition before as this reader
 * decoded it (NULL: none known). It serves only when its task_id is the
 * record's and its seq the record's seq - 1, and must hold its item whole.
 */
bl_transition_record_t *bl_records_decode_transition_after(bl_schemas_t *schemas, const void *value, size_t size,
                                                           int32_t partition, const bl_transition_record_t *before,
                                                           bl_record_error_t *error);

/** A DispatchDecision read back, for inspect and tests. Owns everything it points to. */
typedef struct bl_dispatch_record_s {
        bl_dispatch_t dispatch; /* strings and rationale owned by the record; dispatch.item is item */
        bl_item_t *item;        /* partition -1, and only what the decision carries: task_id, attempt, domain,
                                   task_type, tenant, lease_expires_at, deadline, labels, payload */
        bl_provenance_t provenance; /* dispatch.provenance points here when a field is set (v2) */
} bl_dispatch_record_t;

void bl_dispatch_record_destroy(bl_dispatch_record_t *record);

bl_dispatch_record_t *bl_records_decode_dispatch(bl_schemas_t *schemas, const void *value, size_t size,
                                                 bl_record_error_t *error);

/**
 * A DependencyNotice read back. Its strings are owned copies, not borrowed
 * from the schema cache: applying a notice can make the backlog encode
 * another one with the same cached value, which would overwrite them.
 */
typedef struct bl_notice_record_s {
        bl_notice_t notice; /* to_task_id and from_task_id owned by the record */
} bl_notice_record_t;

void bl_notice_record_destroy(bl_notice_record_t *record);

bl_notice_record_t *bl_records_decode_notice(bl_schemas_t *schemas, const void *value, size_t size,
                                             bl_record_error_t *error);

#endif
