import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;

/**
 * The reference for the Kafka benchmark: COUNT SCRAM-SHA-512 users written in one
 * AlterUserScramCredentials call through Kafka's own Admin client, from the jars that
 * scripts/kafka.sh fetched. It prints how long the call took, without the JVM's start and
 * the first connection, so that it is the best case for one batched request.
 *
 * Usage: java -cp 'JARS/*' BatchAlter.java BOOTSTRAP PREFIX COUNT ITERATIONS
 * (the admin user and password come from KAFKA_ADMIN_USER and KAFKA_ADMIN_PASSWORD).
 * User N is PREFIX + N with the password PREFIX + N + "-password".
 */
public class BatchAlter {
  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    String prefix = args[1];
    int count = Integer.parseInt(args[2]);
    int iterations = Integer.parseInt(args[3]);
    Properties properties = new Properties();
    properties.put("bootstrap.servers", bootstrap);
    properties.put("security.protocol", "SASL_PLAINTEXT");
    properties.put("sasl.mechanism", "SCRAM-SHA-512");
    properties.put(
        "sasl.jaas.config",
        "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
            + System.getenv("KAFKA_ADMIN_USER")
            + "\" password=\""
            + System.getenv("KAFKA_ADMIN_PASSWORD")
            + "\";");
    try (Admin admin = Admin.create(properties)) {
      admin.describeCluster().nodes().get();
      List<UserScramCredentialAlteration> upsertions = new ArrayList<>();
      for (int index = 0; index < count; index++) {
        upsertions.add(
            new UserScramCredentialUpsertion(
                prefix + index,
                new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, iterations),
                prefix + index + "-password"));
      }
      long started = System.nanoTime();
      admin.alterUserScramCredentials(upsertions).all().get();
      System.out.println("batched_ms=" + (System.nanoTime() - started) / 1_000_000.0);
    }
  }
}
