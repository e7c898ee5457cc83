/*
 * KStreamsPeer: backlogd's hot path for SUBMITTED events as a Kafka Streams
 * application, the contender bench/e2e runs beside `backlogd run`.
 *
 * For each record of tasks.events (a TaskEvent in Avro with the Confluent wire
 * header: a zero byte and the schema id, big-endian), it looks the schema id up
 * in schemas/ids.json, decodes the value with Apache Avro and that writer schema,
 * reads the task from a persistent (RocksDB) key-value store whose changelog is
 * the task's snapshot stream (what backlog.state is to backlogd), and writes what
 * backlogd writes for a new task: the transitions SUBMITTED -> QUEUED -> READY ->
 * DISPATCHED in one transaction, as Transition v3 tells them (the first with
 * the whole item and its payload as changes against a fresh item, the later
 * two with only what changed and their cause, event and instance as before,
 * schemas/transition/v3.avsc), a snapshot of the item into
 * the store (so into its changelog) after the last --snapshots changes, and a
 * DispatchDecision to <dispatch-prefix><domain>. A repeated event_id for a known
 * task writes nothing, as in backlogd. Other event types are counted and skipped:
 * the bench sends only submissions.
 *
 * Outputs are encoded with the newest writer schemas of transition, backlog_item
 * and dispatch_decision under the file registry's ids (schemas/ids.json), as
 * `backlogd run` writes them without a Schema Registry. Everything runs with
 * processing.guarantee=exactly_once_v2 and the given commit interval (backlogd's
 * commit.interval_ms). The throughput settings are in streamsConfig() and
 * BoundedRocksDb, and docs/performance.md says why each was chosen.
 *
 * Runs until SIGTERM or SIGINT, then closes the Streams client and exits 0; a
 * processing error shuts the client down and exits 1.
 */
package io.backlogd.peer;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.RocksDBConfigSetter;
import org.apache.kafka.streams.state.Stores;
import org.rocksdb.BlockBasedTableConfig;
import org.rocksdb.Cache;
import org.rocksdb.LRUCache;
import org.rocksdb.Options;
import org.rocksdb.WriteBufferManager;

public final class KStreamsPeer {
    static final String STORE = "backlog.state";
    static final String SOURCE = "tasks.events";
    static final String PROCESSOR = "backlog";
    static final String TRANSITIONS_SINK = "transitions";
    static final String DISPATCH_SINK = "dispatch";

    /* ---- options --------------------------------------------------------------------------- */

    static final class Options_ {
        String bootstrap = "127.0.0.1:19092";
        String applicationId;
        String inputTopic;
        String transitionsTopic;
        String dispatchPrefix;
        Path schemas = Path.of("schemas");
        Path stateDir;
        long commitIntervalMs = 100;
        int threads = 1;
        int transitions = 3;
        int snapshots = 3;
        int dispatches = 1;
        long leaseMs = 300_000;
        String instance = "kstreams-peer";
        long rocksdbCacheBytes = 64L << 20;
        long rocksdbWriteBufferBytes = 32L << 20;
    }

    static final String USAGE = String.join("\n",
            "Usage: KStreamsPeer --application-id ID --input-topic T --transitions-topic T --dispatch-prefix P",
            "                    --state-dir DIR [options]",
            "",
            "backlogd's hot path for SUBMITTED events as a Kafka Streams application (exactly_once_v2).",
            "Runs until SIGTERM or SIGINT.",
            "",
            "  --bootstrap HOST:PORT        broker (default 127.0.0.1:19092)",
            "  --application-id ID          Streams application.id: the group and the changelog's prefix",
            "  --input-topic T              tasks.events",
            "  --transitions-topic T        backlog.transitions",
            "  --dispatch-prefix P          the dispatch topic of a domain is P<domain>",
            "  --schemas DIR                backlogd's schemas/ (default ./schemas)",
            "  --state-dir DIR              Streams' state.dir (RocksDB files)",
            "  --commit-interval-ms MS      commit.interval.ms (default 100: backlogd's commit.interval_ms)",
            "  --threads N                  num.stream.threads (default 1)",
            "  --transitions N              transitions written per submission, 1 to 3 (default 3)",
            "  --snapshots N                snapshots into the store per submission, 0 to --transitions (default 3)",
            "  --dispatches N               dispatch decisions per submission, 0 or 1 (default 1)",
            "  --lease-ms MS                lease of a dispatch (default 300000, backlogd's default)",
            "  --instance NAME              Transition.instance (default kstreams-peer)",
            "  --rocksdb-cache-bytes B      block cache shared by every store (default 67108864)",
            "  --rocksdb-write-buffer-bytes B  memtables of every store together (default 33554432)",
            "  --help                       this help",
            "");

    static Options_ parse(String[] args) {
        Options_ o = new Options_();
        for (int i = 0; i < args.length; i++) {
            String name = args[i];
            if (name.equals("--help") || name.equals("-h")) {
                System.out.print(USAGE);
                System.exit(0);
            }
            if (i + 1 >= args.length)
                fail(name + " needs a value (see --help)");
            String value = args[++i];
            try {
                switch (name) {
                    case "--bootstrap" -> o.bootstrap = value;
                    case "--application-id" -> o.applicationId = value;
                    case "--input-topic" -> o.inputTopic = value;
                    case "--transitions-topic" -> o.transitionsTopic = value;
                    case "--dispatch-prefix" -> o.dispatchPrefix = value;
                    case "--schemas" -> o.schemas = Path.of(value);
                    case "--state-dir" -> o.stateDir = Path.of(value);
                    case "--commit-interval-ms" -> o.commitIntervalMs = bounded(name, value, 1, 3_600_000);
                    case "--threads" -> o.threads = (int) bounded(name, value, 1, 64);
                    case "--transitions" -> o.transitions = (int) bounded(name, value, 1, 3);
                    case "--snapshots" -> o.snapshots = (int) bounded(name, value, 0, 3);
                    case "--dispatches" -> o.dispatches = (int) bounded(name, value, 0, 1);
                    case "--lease-ms" -> o.leaseMs = bounded(name, value, 1, Long.MAX_VALUE / 4);
                    case "--instance" -> o.instance = value;
                    case "--rocksdb-cache-bytes" -> o.rocksdbCacheBytes = bounded(name, value, 1 << 20, 1L << 40);
                    case "--rocksdb-write-buffer-bytes" ->
                            o.rocksdbWriteBufferBytes = bounded(name, value, 1 << 20, 1L << 40);
                    default -> fail("unknown option " + name + " (see --help)");
                }
            } catch (NumberFormatException e) {
                fail("bad value '" + value + "' for " + name);
            }
        }
        if (o.applicationId == null || o.inputTopic == null || o.transitionsTopic == null || o.dispatchPrefix == null
                || o.stateDir == null)
            fail("--application-id, --input-topic, --transitions-topic, --dispatch-prefix and --state-dir are needed");
        if (o.snapshots > o.transitions)
            fail("--snapshots may not exceed --transitions");
        return o;
    }

    static long bounded(String name, String value, long min, long max) {
        long n = Long.parseLong(value);
        if (n < min || n > max)
            fail(name + " must be in [" + min + ", " + max + "]");
        return n;
    }

    static void fail(String message) {
        System.err.println("kstreams-peer: " + message);
        System.exit(2);
    }

    /* ---- schemas ---------------------------------------------------------------------------- */

    /** The writer schemas of schemas/, by the file registry's id (schemas/ids.json), and the ids of the outputs. */
    static final class Contracts {
        final Map<Integer, Schema> byId = new HashMap<>();
        final Map<String, Integer> newestId = new HashMap<>();

        Contracts(Path dir) throws IOException {
            String ids = Files.readString(dir.resolve("ids.json"));
            Matcher m = Pattern.compile(
                    "\\{\\s*\"id\"\\s*:\\s*(\\d+)\\s*,\\s*\"contract\"\\s*:\\s*\"([a-z_]+)\"\\s*,\\s*\"version\"\\s*:\\s*(\\d+)\\s*,"
                            + "\\s*\"file\"\\s*:\\s*\"([^\"]+)\"\\s*\\}").matcher(ids);
            Map<String, Integer> newestVersion = new HashMap<>();
            while (m.find()) {
                int id = Integer.parseInt(m.group(1));
                String contract = m.group(2);
                int version = Integer.parseInt(m.group(3));
                byId.put(id, new Schema.Parser().parse(dir.resolve(m.group(4)).toFile()));
                if (version > newestVersion.getOrDefault(contract, 0)) {
                    newestVersion.put(contract, version);
                    newestId.put(contract, id);
                }
            }
            for (String needed : List.of("task_event", "transition", "backlog_item", "dispatch_decision"))
                if (!newestId.containsKey(needed))
                    throw new IOException(dir.resolve("ids.json") + " names no " + needed + " schema");
        }

        Schema newest(String contract) {
            return byId.get(newestId.get(contract));
        }
    }

    /* ---- the processor ------------------------------------------------------------------------ */

    /** One per Streams task (partition): decoders and encoders are reused record after record. */
    static final class BacklogProcessor implements Processor<String, byte[], String, byte[]> {
        final Options_ o;
        final Contracts contracts;
        final Map<Integer, GenericDatumReader<GenericRecord>> readers = new HashMap<>();
        final Schema transitionSchema, itemSchema, decisionSchema, stateSchema, criterionSchema;
        final int transitionId, itemId, decisionId;
        final GenericDatumWriter<GenericRecord> transitionWriter, itemWriter, decisionWriter;
        final GenericDatumReader<GenericRecord> itemReader;
        final Schema baseSchema;                      /* Transition v3's ItemBase */
        final List<Schema> changeBranches;            /* one record per BacklogItem field, in order */
        final Map<String, Schema> changeOf = new HashMap<>();
        final List<GenericDatumWriter<Object>> fieldWriters = new ArrayList<>();
        final List<byte[]> freshBytes = new ArrayList<>(); /* each field of the NEW base, encoded */
        final ByteArrayOutputStream fieldBuffer = new ByteArrayOutputStream(512);
        BinaryEncoder fieldEncoder;
        final ByteArrayOutputStream buffer = new ByteArrayOutputStream(4096);
        BinaryEncoder encoder;
        BinaryDecoder decoder;
        ProcessorContext<String, byte[]> context;
        KeyValueStore<String, byte[]> store;
        long skipped;

        BacklogProcessor(Options_ o, Contracts contracts) {
            this.o = o;
            this.contracts = contracts;
            transitionId = contracts.newestId.get("transition");
            itemId = contracts.newestId.get("backlog_item");
            decisionId = contracts.newestId.get("dispatch_decision");
            transitionSchema = contracts.byId.get(transitionId);
            itemSchema = contracts.byId.get(itemId);
            decisionSchema = contracts.byId.get(decisionId);
            stateSchema = itemSchema.getField("state").schema();
            criterionSchema = decisionSchema.getField("rationale").schema().getElementType();
            transitionWriter = new GenericDatumWriter<>(transitionSchema);
            itemWriter = new GenericDatumWriter<>(itemSchema);
            decisionWriter = new GenericDatumWriter<>(decisionSchema);
            itemReader = new GenericDatumReader<>(itemSchema);
            baseSchema = transitionSchema.getField("base").schema();
            changeBranches = transitionSchema.getField("changes").schema().getElementType().getTypes();
            for (Schema branch : changeBranches) {
                Schema.Field field = branch.getFields().get(0);
                changeOf.put(field.name(), branch);
                fieldWriters.add(new GenericDatumWriter<>(field.schema()));
                freshBytes.add(encodeField(fieldWriters.size() - 1, freshValue(field)));
            }
        }

        /* The NEW base's value of a field: its default, or "" and 0 for the required ones without one. */
        static Object freshValue(Schema.Field field) {
            if (field.hasDefaultValue())
                return GenericData.get().getDefaultValue(field);
            return switch (field.schema().getType()) {
                case STRING -> "";
                case DOUBLE -> 0.0;
                case LONG -> 0L;
                default -> throw new IllegalStateException("no NEW value for " + field.name());
            };
        }

        /* Field @p index's value alone, as its change record's one field writes it. */
        byte[] encodeField(int index, Object value) {
            fieldBuffer.reset();
            fieldEncoder = EncoderFactory.get().binaryEncoder(fieldBuffer, fieldEncoder);
            try {
                fieldWriters.get(index).write(value, fieldEncoder);
                fieldEncoder.flush();
            } catch (IOException e) {
                throw new IllegalStateException("cannot encode a change: " + e.getMessage(), e);
            }
            return fieldBuffer.toByteArray();
        }

        GenericRecord change(String field, Object value) {
            GenericRecord change = new GenericData.Record(changeOf.get(field));
            change.put(0, value);
            return change;
        }

        /* The first change of the task: every field of @p item not as the NEW base has it (state_since at
           @p now, recent_event_ids [the event]), as backlogd finds them, by their bytes. */
        List<GenericRecord> changesAgainstNew(GenericRecord item, long now, String eventId) {
            List<GenericRecord> changes = new ArrayList<>();
            for (int i = 0; i < changeBranches.size(); i++) {
                String name = changeBranches.get(i).getFields().get(0).name();
                byte[] base = switch (name) {
                    case "state_since" -> encodeField(i, now);
                    case "recent_event_ids" -> encodeField(i, List.of(eventId));
                    default -> freshBytes.get(i);
                };
                if (!Arrays.equals(base, encodeField(i, item.get(name))))
                    changes.add(change(name, item.get(name)));
            }
            return changes;
        }

        @Override
        public void init(ProcessorContext<String, byte[]> context) {
            this.context = context;
            this.store = context.getStateStore(STORE);
        }

        @Override
        public void process(Record<String, byte[]> record) {
            byte[] value = record.value();
            if (value == null || value.length < 5 || value[0] != 0)
                throw new IllegalStateException("a record without the wire header on " + SOURCE);
            int schemaId = ByteBuffer.wrap(value, 1, 4).getInt();
            GenericRecord event = decode(readers.computeIfAbsent(schemaId, this::readerFor), value);
            String taskId = event.get("task_id").toString();
            String eventId = event.get("event_id").toString();
            byte[] known = store.get(taskId);
            if (known != null && seen(known, eventId))
                return;
            if (known != null || !"SUBMITTED".equals(event.get("event_type").toString())) {
                skipped++; /* only new submissions are the hot path measured */
                return;
            }
            submit(record, event, taskId, eventId);
        }

        GenericDatumReader<GenericRecord> readerFor(int schemaId) {
            Schema writer = contracts.byId.get(schemaId);
            if (writer == null)
                throw new IllegalStateException("schema id " + schemaId + " is not in schemas/ids.json");
            return new GenericDatumReader<>(writer, writer);
        }

        GenericRecord decode(GenericDatumReader<GenericRecord> reader, byte[] value) {
            decoder = DecoderFactory.get().binaryDecoder(value, 5, value.length - 5, decoder);
            try {
                return reader.read(null, decoder);
            } catch (IOException e) {
                throw new IllegalStateException("undecodable TaskEvent: " + e.getMessage(), e);
            }
        }

        boolean seen(byte[] item, String eventId) {
            GenericRecord stored;
            decoder = DecoderFactory.get().binaryDecoder(item, 5, item.length - 5, decoder);
            try {
                stored = itemReader.read(null, decoder);
            } catch (IOException e) {
                throw new IllegalStateException("undecodable snapshot: " + e.getMessage(), e);
            }
            for (Object id : (List<?>) stored.get("recent_event_ids"))
                if (id.toString().equals(eventId))
                    return true;
            return false;
        }

        /* SUBMITTED -> QUEUED -> READY -> DISPATCHED, as backlogd's FIFO dispatch does at once. */
        void submit(Record<String, byte[]> record, GenericRecord event, String taskId, String eventId) {
            long now = System.currentTimeMillis();
            RecordMetadata origin = context.recordMetadata().orElseThrow();
            GenericRecord item = newItem(event, taskId, eventId, now);
            String[] to = {"QUEUED", "READY", "DISPATCHED"};
            String dispatchId = taskId + "/1";
            long lease = now + o.leaseMs;
            int first = 3 - o.transitions; /* the changes written are the last N */
            for (int change = 0; change < 3; change++) {
                boolean dispatch = change == 2;
                item.put("seq", (long) change + 1);
                item.put("state", new GenericData.EnumSymbol(stateSchema, to[change]));
                item.put("state_since", now);
                item.put("ready_since", change == 1 ? now : null);
                if (dispatch) {
                    item.put("attempt", 1);
                    item.put("lease_expires_at", lease);
                }
                if (change < first)
                    continue;
                GenericRecord t = withDefaults(transitionSchema);
                t.put("task_id", taskId);
                t.put("seq", (long) change + 1);
                t.put("from_state", change == 0 ? null : new GenericData.EnumSymbol(stateSchema, to[change - 1]));
                t.put("to_state", new GenericData.EnumSymbol(stateSchema, to[change]));
                /* v3: a later change of the transaction says its cause, event and instance are as before
                   (null), and dispatch_id task_id/attempt is "" */
                boolean told = change > first;
                boolean asBefore = told && !dispatch;
                t.put("cause", asBefore ? null : dispatch ? "dispatch" : "SUBMITTED");
                t.put("event_id", dispatch || asBefore ? null : eventId);
                t.put("attempt", dispatch ? 1 : 0);
                t.put("at", now);
                t.put("occurred_at", dispatch || asBefore ? null : event.get("occurred_at"));
                t.put("dispatch_id", dispatch ? "" : null);
                t.put("policy", dispatch ? "fifo@1" : null);
                t.put("score", dispatch ? 0.0 : null);
                t.put("source_topic", dispatch || asBefore ? null : origin.topic());
                t.put("source_partition", dispatch || asBefore ? null : origin.partition());
                t.put("source_offset", dispatch || asBefore ? null : origin.offset());
                t.put("instance", told ? null : o.instance);
                t.put("rationale", List.of());
                t.put("base", new GenericData.EnumSymbol(baseSchema, told ? "BEFORE" : "NEW"));
                if (!told) /* the whole item, its payload with it, against a fresh one */
                    t.put("changes", changesAgainstNew(item, now, eventId));
                else if (change == 1) /* QUEUED -> READY: state_since is `at` by the base's rule */
                    t.put("changes", List.of(change("ready_since", now)));
                else
                    t.put("changes", List.of(change("ready_since", null), change("lease_expires_at", lease)));
                context.forward(record.withKey(taskId).withValue(encode(transitionWriter, transitionId, t))
                        .withTimestamp(now), TRANSITIONS_SINK);
                if (change >= 3 - o.snapshots)
                    store.put(taskId, encode(itemWriter, itemId, item));
            }
            if (o.dispatches > 0)
                context.forward(record.withKey(taskId).withValue(encode(decisionWriter, decisionId,
                        decision(event, item, taskId, dispatchId, now, lease))).withTimestamp(now), DISPATCH_SINK);
        }

        GenericRecord newItem(GenericRecord event, String taskId, String eventId, long now) {
            GenericRecord item = new GenericData.Record(itemSchema);
            item.put("task_id", taskId);
            item.put("attempt", 0);
            item.put("max_attempts", event.get("max_attempts"));
            item.put("task_type", event.get("task_type"));
            item.put("domain", event.get("domain"));
            item.put("tenant", event.get("tenant"));
            item.put("sla_class", event.get("sla_class"));
            item.put("business_value", orZero(event.get("business_value")));
            item.put("risk", orZero(event.get("risk")));
            item.put("submitted_at", now);
            item.put("deadline", event.get("deadline"));
            item.put("not_before", event.get("not_before"));
            item.put("data_ready_at", event.get("data_ready_at"));
            item.put("depends_on", event.get("depends_on"));
            item.put("pending_deps", List.of());
            item.put("dependents", List.of());
            item.put("approval_required", false);
            item.put("approved", false);
            item.put("labels", event.get("labels"));
            item.put("payload", event.get("payload"));
            List<Object> recent = new ArrayList<>(1);
            recent.add(eventId);
            item.put("recent_event_ids", recent);
            item.put("placeholder", false);
            return item;
        }

        GenericRecord decision(GenericRecord event, GenericRecord item, String taskId, String dispatchId, long now,
                               long lease) {
            GenericRecord d = withDefaults(decisionSchema);
            d.put("task_id", taskId);
            d.put("attempt", 1);
            d.put("dispatch_id", dispatchId);
            d.put("domain", item.get("domain"));
            d.put("task_type", item.get("task_type"));
            d.put("tenant", item.get("tenant"));
            d.put("score", 0.0);
            d.put("rationale", List.of());
            d.put("policy_name", "fifo");
            d.put("policy_version", "1");
            d.put("decided_at", now);
            d.put("lease_expires_at", lease);
            d.put("deadline", item.get("deadline"));
            d.put("labels", item.get("labels"));
            d.put("payload", event.get("payload"));
            return d;
        }

        static double orZero(Object value) {
            return value == null ? 0.0 : (Double) value;
        }

        /* The Confluent wire header (zero, the schema id big-endian), then the Avro binary body. */
        /* A record of @p schema with every field that has a default set to it: the newer versions' fields
           (Transition v2's late and probe, DispatchDecision v2's kind) as backlogd writes them for the FIFO policy. */
        static GenericRecord withDefaults(Schema schema) {
            GenericRecord record = new GenericData.Record(schema);
            for (Schema.Field field : schema.getFields())
                if (field.hasDefaultValue())
                    record.put(field.pos(), GenericData.get().deepCopy(field.schema(),
                            GenericData.get().getDefaultValue(field)));
            return record;
        }

        byte[] encode(GenericDatumWriter<GenericRecord> writer, int schemaId, GenericRecord record) {
            buffer.reset();
            buffer.write(0);
            buffer.write(schemaId >>> 24);
            buffer.write(schemaId >>> 16);
            buffer.write(schemaId >>> 8);
            buffer.write(schemaId);
            encoder = EncoderFactory.get().binaryEncoder(buffer, encoder);
            try {
                writer.write(record, encoder);
                encoder.flush();
            } catch (IOException e) {
                throw new IllegalStateException("cannot encode " + record.getSchema().getName() + ": " + e.getMessage(), e);
            }
            return buffer.toByteArray();
        }
    }

    /* ---- RocksDB ------------------------------------------------------------------------------- */

    /**
     * One block cache and one write-buffer budget shared by every store of the instance, as the Streams
     * documentation's "Memory management" section shows (BoundedMemoryRocksDBConfig): without it each store
     * (one per partition) takes a 50 MB cache and three 16 MB memtables of its own.
     */
    public static final class BoundedRocksDb implements RocksDBConfigSetter {
        static long cacheBytes = 64L << 20, writeBufferBytes = 32L << 20;
        static Cache cache;
        static WriteBufferManager writeBuffers;

        static synchronized void shared() {
            if (cache == null) {
                cache = new LRUCache(cacheBytes, -1, false, 0.1);
                writeBuffers = new WriteBufferManager(writeBufferBytes, cache);
            }
        }

        @Override
        public void setConfig(String storeName, Options options, Map<String, Object> configs) {
            shared();
            BlockBasedTableConfig table = (BlockBasedTableConfig) options.tableFormatConfig();
            table.setBlockCache(cache);
            table.setCacheIndexAndFilterBlocks(true);
            options.setWriteBufferManager(writeBuffers);
            options.setTableFormatConfig(table);
        }

        @Override
        public void close(String storeName, Options options) {
            /* the cache and the write-buffer manager are shared: they live as long as the process */
        }
    }

    /* ---- Streams ------------------------------------------------------------------------------- */

    static Properties streamsConfig(Options_ o) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, o.applicationId);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, o.bootstrap);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, o.commitIntervalMs);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, o.threads);
        p.put(StreamsConfig.STATE_DIR_CONFIG, o.stateDir.toString());
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.ByteArraySerde.class);
        p.put(StreamsConfig.ROCKSDB_CONFIG_SETTER_CLASS_CONFIG, BoundedRocksDb.class);
        /* the record cache is off: every put reaches the changelog, so the snapshots per event are exact */
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0L);
        /* larger batches and fetches: a transaction of 100 ms holds thousands of records */
        p.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 5);
        p.put(StreamsConfig.producerPrefix(ProducerConfig.BATCH_SIZE_CONFIG), 262_144);
        p.put(StreamsConfig.producerPrefix(ProducerConfig.BUFFER_MEMORY_CONFIG), 67_108_864L);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.MAX_POLL_RECORDS_CONFIG), 5_000);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.FETCH_MIN_BYTES_CONFIG), 65_536);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG), 10);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG), 4_194_304);
        return p;
    }

    static Topology topology(Options_ o, Contracts contracts) {
        Topology t = new Topology();
        t.addSource(SOURCE, Serdes.String().deserializer(), Serdes.ByteArray().deserializer(), o.inputTopic);
        t.addProcessor(PROCESSOR, () -> new BacklogProcessor(o, contracts), SOURCE);
        t.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(STORE), Serdes.String(),
                Serdes.ByteArray()).withLoggingEnabled(Map.of()).withCachingDisabled(), PROCESSOR);
        t.addSink(TRANSITIONS_SINK, o.transitionsTopic, Serdes.String().serializer(), Serdes.ByteArray().serializer(),
                PROCESSOR);
        t.addSink(DISPATCH_SINK, (key, value, context) -> o.dispatchPrefix + domainOf(value),
                Serdes.String().serializer(), Serdes.ByteArray().serializer(), PROCESSOR);
        return t;
    }

    /*
     * The domain of an encoded DispatchDecision, read without decoding it all: task_id, attempt, dispatch_id,
     * then domain, each an Avro string or int after the 5-byte header.
     */
    static String domainOf(byte[] value) {
        int[] at = {5};
        skipString(value, at);
        readLong(value, at);
        skipString(value, at);
        int length = (int) readLong(value, at);
        return new String(value, at[0], length, java.nio.charset.StandardCharsets.UTF_8);
    }

    static void skipString(byte[] value, int[] at) {
        int length = (int) readLong(value, at);
        at[0] += length;
    }

    static long readLong(byte[] value, int[] at) {
        long n = 0;
        int shift = 0;
        int b;
        do {
            b = value[at[0]++] & 0xff;
            n |= (long) (b & 0x7f) << shift;
            shift += 7;
        } while ((b & 0x80) != 0);
        return (n >>> 1) ^ -(n & 1);
    }

    public static void main(String[] args) throws Exception {
        Options_ o = parse(args);
        Contracts contracts;
        try {
            contracts = new Contracts(o.schemas);
        } catch (IOException | RuntimeException e) {
            System.err.println("kstreams-peer: schemas in " + o.schemas + ": " + e.getMessage());
            System.exit(2);
            return;
        }
        BoundedRocksDb.cacheBytes = o.rocksdbCacheBytes;
        BoundedRocksDb.writeBufferBytes = o.rocksdbWriteBufferBytes;
        KafkaStreams streams = new KafkaStreams(topology(o, contracts), streamsConfig(o));
        CountDownLatch stopped = new CountDownLatch(1);
        int[] status = {0};
        streams.setUncaughtExceptionHandler(e -> {
            System.err.println("kstreams-peer: " + e);
            status[0] = 1;
            stopped.countDown();
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stopped.countDown();
            streams.close(Duration.ofSeconds(30));
        }));
        streams.start();
        stopped.await();
        streams.close(Duration.ofSeconds(30));
        System.exit(status[0]);
    }
}
