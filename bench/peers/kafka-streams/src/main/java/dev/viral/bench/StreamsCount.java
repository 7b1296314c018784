package dev.viral.bench;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.processor.TimestampExtractor;

/**
 * viral's aggregator job as a Kafka Streams application: mentions (key = topic name, value
 * = Mention JSON) counted per topic in tumbling or hopping windows of event time with a
 * grace period, each window's final count emitted once when it closes (suppress), as JSON,
 * to an output topic; exactly-once. It does less than viral: no per-window de-duplication
 * of post ids.
 *
 * <p>Prints {"event":"first",...} when it handles its first record and {"event":"done",...}
 * when it has handled --expect records, then keeps running until killed (the harness reads
 * its CPU time and peak RSS first).
 *
 * <p>Args: bootstrap input output app-id size-ms hop-ms grace-ms expect threads
 */
public final class StreamsCount {
  private static final JsonFactory JSON = new JsonFactory();

  /** Event time = created_at, or observed_at when that is earlier (as viral's rule). */
  static final class EventTime implements TimestampExtractor {
    @Override
    public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
      byte[] value = (byte[]) record.value();
      long created = -1;
      long observed = -1;
      try (JsonParser p = JSON.createParser(value)) {
        if (p.nextToken() != JsonToken.START_OBJECT) {
          return -1;
        }
        while (p.nextToken() == JsonToken.FIELD_NAME) {
          String name = p.currentName();
          JsonToken t = p.nextToken();
          if ("created_at".equals(name) && t == JsonToken.VALUE_STRING) {
            created = Instant.parse(p.getText()).toEpochMilli();
          } else if ("observed_at".equals(name) && t == JsonToken.VALUE_STRING) {
            observed = Instant.parse(p.getText()).toEpochMilli();
          } else {
            p.skipChildren();
          }
        }
      } catch (Exception e) {
        return -1; // dropped (and logged) by the default handler, like viral's dead letters
      }
      return observed >= 0 && observed < created ? observed : created;
    }
  }

  public static void main(String[] args) throws Exception {
    if (args.length != 9) {
      System.err.println(
          "usage: StreamsCount bootstrap input output app-id size-ms hop-ms grace-ms expect threads");
      System.exit(2);
    }
    String bootstrap = args[0], input = args[1], output = args[2], appId = args[3];
    long size = Long.parseLong(args[4]), hop = Long.parseLong(args[5]);
    long grace = Long.parseLong(args[6]), expect = Long.parseLong(args[7]);
    int threads = Integer.parseInt(args[8]);

    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    // viral's aggregator commits every second too.
    props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 1000);
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, threads);
    props.put(StreamsConfig.STATE_DIR_CONFIG,
        Files.createTempDirectory("streams-peer").toString());
    props.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");

    AtomicLong seen = new AtomicLong();
    StreamsBuilder builder = new StreamsBuilder();
    TimeWindows windows =
        TimeWindows.ofSizeAndGrace(Duration.ofMillis(size), Duration.ofMillis(grace))
            .advanceBy(Duration.ofMillis(hop));
    builder.stream(input, Consumed.with(Serdes.String(), Serdes.ByteArray())
            .withTimestampExtractor(new EventTime()))
        .peek((k, v) -> {
          long n = seen.incrementAndGet();
          if (n == 1) {
            event("first", n);
          }
          if (n == expect) {
            event("done", n);
          }
        })
        .groupByKey(Grouped.with(Serdes.String(), Serdes.ByteArray()))
        .windowedBy(windows)
        .count(Materialized.as("counts"))
        .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()))
        .toStream()
        .map((w, count) -> KeyValue.pair(w.key(),
            "{\"topic\":\"" + w.key() + "\",\"window_start\":\"" + w.window().startTime()
                + "\",\"window_end\":\"" + w.window().endTime() + "\",\"count\":" + count + "}"))
        .to(output, Produced.with(Serdes.String(), Serdes.String()));

    KafkaStreams streams = new KafkaStreams(builder.build(), props);
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      streams.close(Duration.ofSeconds(5));
      stopped.countDown();
    }));
    streams.start();
    stopped.await();
  }

  private static void event(String name, long records) {
    System.out.println("{\"event\":\"" + name + "\",\"at_ms\":" + System.currentTimeMillis()
        + ",\"records\":" + records + "}");
    System.out.flush();
  }
}
