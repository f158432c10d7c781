// A peer for `make bench` (services/bench/peers.py): Kafka Streams, Processor API, a persistent RocksDB store,
// at-least-once, commit every 100 ms — running the *light fold*: per constituent, drop an event id seen among
// its last 256, keep decayed impact sums per dimension and counts by source. The same fold as the Quix peer
// (deploy/bench/quix/light_fold.py). Reads one event per record or JSON arrays of them (as ingest writes);
// prints {"events", "seconds", "events_per_s", "constituents"} once it has folded the given count.
//
//   java -cp '.bench-peers/kstreams/classes:.bench-peers/kstreams/libs/*' LightFold \
//        BOOTSTRAP TOPIC APP_ID EVENTS FOLD_SPEC STATE_DIR
//
// FOLD_SPEC: the half-life in hours on its first line, then "type content operations principles" per line.

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

public final class LightFold {
    static final String STORE = "light-state";
    static final String[] SOURCES = {"web", "email", "donation", "events"};
    static final int KEPT_IDS = 256;
    static final JsonFactory JSON = new JsonFactory();
    static final AtomicLong folded = new AtomicLong();
    static final AtomicLong constituents = new AtomicLong();
    static volatile long firstNanos = 0;
    static volatile long lastNanos = 0;

    static double halfLifeSeconds;
    static final Map<String, double[]> impacts = new HashMap<>();

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1], appId = args[2];
        long wanted = Long.parseLong(args[3]);
        List<String> spec = Files.readAllLines(Path.of(args[4]));
        halfLifeSeconds = Double.parseDouble(spec.get(0).trim()) * 3600;
        for (String line : spec.subList(1, spec.size())) {
            String[] f = line.trim().split("\\s+");
            if (f.length == 4) {
                impacts.put(f[0], new double[] {Double.parseDouble(f[1]), Double.parseDouble(f[2]), Double.parseDouble(f[3])});
            }
        }
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.STATE_DIR_CONFIG, args[5]);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        props.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");
        props.put(StreamsConfig.consumerPrefix("max.partition.fetch.bytes"), 4 * 1024 * 1024);

        Topology topology = new Topology();
        topology.addSource("touchpoints", Serdes.ByteArray().deserializer(), Serdes.ByteArray().deserializer(), topic);
        topology.addProcessor("fold", Fold::new, "touchpoints");
        topology.addStateStore(
                Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(STORE), Serdes.String(), Serdes.ByteArray()),
                "fold");

        KafkaStreams streams = new KafkaStreams(topology, props);
        CountDownLatch done = new CountDownLatch(1);
        streams.setUncaughtExceptionHandler(error -> {
            error.printStackTrace();
            done.countDown();
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.start();
        Thread watcher = new Thread(() -> {
            while (folded.get() < wanted) {
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    return;
                }
            }
            done.countDown();
        });
        watcher.setDaemon(true);
        watcher.start();
        done.await();
        double seconds = (lastNanos - firstNanos) / 1e9;
        System.out.printf(
                "{\"events\": %d, \"seconds\": %.2f, \"events_per_s\": %d, \"constituents\": %d}%n",
                folded.get(), seconds, Math.round(folded.get() / seconds), constituents.get());
        System.out.flush();
        streams.close(java.time.Duration.ofSeconds(20));
    }

    static final class Fold implements Processor<byte[], byte[], Void, Void> {
        private KeyValueStore<String, byte[]> store;

        @Override
        public void init(ProcessorContext<Void, Void> context) {
            store = context.getStateStore(STORE);
        }

        @Override
        public void process(Record<byte[], byte[]> record) {
            if (firstNanos == 0) {
                firstNanos = System.nanoTime();
            }
            try (JsonParser parser = JSON.createParser(record.value())) {
                JsonToken first = parser.nextToken();
                if (first == JsonToken.START_ARRAY) {
                    while (parser.nextToken() == JsonToken.START_OBJECT) {
                        event(parser);
                    }
                } else if (first == JsonToken.START_OBJECT) {
                    event(parser);
                }
            } catch (java.io.IOException e) {
                throw new RuntimeException(e);
            }
            lastNanos = System.nanoTime();
        }

        /** One event object (the parser at its START_OBJECT), folded into its constituent's state. */
        private void event(JsonParser parser) throws java.io.IOException {
            String id = null, constituent = null, type = null, source = null, occurred = null;
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String name = parser.currentName();
                JsonToken value = parser.nextToken();
                if (value == JsonToken.START_OBJECT || value == JsonToken.START_ARRAY) {
                    parser.skipChildren();
                    continue;
                }
                switch (name) {
                    case "event_id" -> id = parser.getText();
                    case "constituent_id" -> constituent = parser.getText();
                    case "type" -> type = parser.getText();
                    case "source" -> source = parser.getText();
                    case "occurred_at" -> occurred = parser.getText();
                    default -> { }
                }
            }
            fold(constituent, id, type, source, OffsetDateTime.parse(occurred).toEpochSecond());
            folded.incrementAndGet();
        }

        private void fold(String constituent, String id, String type, String source, double at) {
            byte[] stored = store.get(constituent);
            double[] sums = new double[3];
            double last = at;
            int[] counts = new int[SOURCES.length + 1];
            long[] ids = new long[0];
            if (stored != null) {
                ByteBuffer in = ByteBuffer.wrap(stored);
                for (int i = 0; i < 3; i++) sums[i] = in.getDouble();
                last = in.getDouble();
                for (int i = 0; i < counts.length; i++) counts[i] = in.getInt();
                ids = new long[in.getShort()];
                for (int i = 0; i < ids.length; i++) ids[i] = in.getLong();
            } else {
                constituents.incrementAndGet();
            }
            long hash = fnv64(id);
            for (long seen : ids) {
                if (seen == hash) return; // a repeat
            }
            double newest = Math.max(last, at);
            double[] impact = impacts.get(type);
            double keep = Math.pow(0.5, (newest - last) / halfLifeSeconds);
            double weight = Math.pow(0.5, (newest - at) / halfLifeSeconds);
            for (int i = 0; i < 3; i++) sums[i] = sums[i] * keep + (impact == null ? 0 : impact[i] * weight);
            int s = SOURCES.length;
            for (int i = 0; i < SOURCES.length; i++) if (SOURCES[i].equals(source)) s = i;
            counts[s]++;
            int kept = Math.min(ids.length + 1, KEPT_IDS);
            ByteBuffer out = ByteBuffer.allocate(32 + 4 * counts.length + 2 + 8 * kept);
            for (double v : sums) out.putDouble(v);
            out.putDouble(newest);
            for (int c : counts) out.putInt(c);
            out.putShort((short) kept);
            for (int i = ids.length + 1 - kept; i < ids.length; i++) out.putLong(ids[i]);
            out.putLong(hash);
            store.put(constituent, out.array());
        }

        static long fnv64(String text) {
            long hash = 0xcbf29ce484222325L;
            for (int i = 0; i < text.length(); i++) {
                hash ^= text.charAt(i);
                hash *= 0x100000001b3L;
            }
            return hash;
        }
    }
}
