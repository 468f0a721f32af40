#!/usr/bin/env bash
# A single-node Apache Kafka broker for tests and CI: SASL/SCRAM-SHA-512 on loopback only.
#
#   scripts/kafka.sh fetch                  download the Kafka jars from Maven Central (once)
#   scripts/kafka.sh start [--port N] [--controller-port N] [--data DIR] [--fresh]
#   scripts/kafka.sh stop [--data DIR]
#   scripts/kafka.sh status [--data DIR]
#   scripts/kafka.sh env [--data DIR]       print KAFKA_* settings as shell assignments
#   scripts/kafka.sh configs ARGS...        Kafka's kafka-configs, logged in as the admin user
#   scripts/kafka.sh topics ARGS...         Kafka's kafka-topics, likewise
#   scripts/kafka.sh acls ARGS...           Kafka's kafka-acls, likewise
#   scripts/kafka.sh describe-users [NAME]  SCRAM credentials of one user, or of all
#
# Settings (environment): KAFKA_VERSION, KAFKA_HOME_DIR (jar cache and default data, .kafka/),
# KAFKA_DATA_DIR, KAFKA_ADMIN_USER, KAFKA_ADMIN_PASSWORD, KAFKA_HEAP_OPTS,
# KAFKA_JVM_PERFORMANCE_OPTS, KAFKA_START_TIMEOUT (seconds). The admin user is written when a
# data folder is formatted: after changing KAFKA_ADMIN_*, start with --fresh.
#
# The jars come from Maven Central through Maven because that is the one place this project's
# machines and CI can download Kafka from; no Kafka distribution archive or container is used.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_HOME_DIR="${KAFKA_HOME_DIR:-$REPO_ROOT/.kafka}"
KAFKA_ADMIN_USER="${KAFKA_ADMIN_USER:-admin}"
KAFKA_ADMIN_PASSWORD="${KAFKA_ADMIN_PASSWORD:-admin-secret}"
# Kafka's own default is a 1 GiB heap; a test broker holding a handful of topics needs far less.
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
KAFKA_JVM_PERFORMANCE_OPTS="${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"

# One folder per version, so changing KAFKA_VERSION never mixes jars of two releases.
VERSION_DIR="$KAFKA_HOME_DIR/$KAFKA_VERSION"
JARS_DIR="$VERSION_DIR/jars"
FETCHED_MARKER="$VERSION_DIR/.fetched"

# The class names below are those of the 4.x line: 3.x kept ConfigCommand in core's kafka.admin.
SERVER_CLASS="kafka.Kafka"
STORAGE_TOOL_CLASS="kafka.tools.StorageTool"
CONFIG_COMMAND_CLASS="org.apache.kafka.tools.ConfigCommand"
TOPIC_COMMAND_CLASS="org.apache.kafka.tools.TopicCommand"
ACL_COMMAND_CLASS="org.apache.kafka.tools.AclCommand"
# Pinned so a fetch behaves the same whatever plugin version Maven would pick by default.
DEPENDENCY_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

data_dir="${KAFKA_DATA_DIR:-$KAFKA_HOME_DIR/data}"
port=19092
controller_port=19093
fresh=false
data_given=false

fail() {
  echo "kafka.sh: $*" >&2
  exit 1
}

usage() {
  sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

require_java() {
  command -v java >/dev/null 2>&1 || fail "java not found: Kafka 4 needs Java 17 or newer"

  local major
  major="$(java -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java\.specification\.version = //p')"
  [[ "${major:-0}" -ge 17 ]] || fail "Java $major found: Kafka 4 needs Java 17 or newer"
}

write_pom() {
  # Kafka's connect-runtime (Jetty, Jersey) comes with kafka-tools only for the Connect plugin
  # tool; leaving it out halves the download.
  cat >"$VERSION_DIR/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.scram-secrets</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>$KAFKA_VERSION</version>
      <exclusions>
        <exclusion>
          <groupId>org.apache.kafka</groupId>
          <artifactId>connect-runtime</artifactId>
        </exclusion>
      </exclusions>
    </dependency>
  </dependencies>
</project>
EOF
}

# Maven's output goes to a log that is shown only when it fails, so a fetch inside a test run
# prints two lines rather than hundreds.
run_maven() {
  mvn -B -f "$VERSION_DIR/pom.xml" "$@" >>"$VERSION_DIR/fetch.log" 2>&1 || {
    tail -n 30 "$VERSION_DIR/fetch.log" >&2
    fail "Maven could not fetch Kafka $KAFKA_VERSION (full log: $VERSION_DIR/fetch.log)"
  }
}

cmd_fetch() {
  if [[ -f "$FETCHED_MARKER" ]]; then
    echo "Kafka $KAFKA_VERSION jars already in $JARS_DIR"
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || fail "mvn not found: install Maven (apt-get install maven)"
  require_java
  mkdir -p "$VERSION_DIR"
  echo "Fetching Kafka $KAFKA_VERSION jars from Maven Central into $JARS_DIR"
  write_pom
  : >"$VERSION_DIR/fetch.log"

  # Copying into a scratch folder first keeps an interrupted fetch from passing for a full one.
  local partial="$JARS_DIR.partial"
  rm -rf "$partial"
  run_maven "$DEPENDENCY_PLUGIN:copy-dependencies" \
    -DincludeScope=runtime -DoutputDirectory="$partial"

  # Kafka's published poms name slf4j-api and log4j-core but not the bridge between them that
  # its release archive ships; without it the broker would log nothing. It must match the
  # log4j-core that Kafka chose.
  local log4j_core log4j_version
  log4j_core="$(find "$partial" -name 'log4j-core-*.jar' -printf '%f\n' | head -n 1)"
  log4j_version="${log4j_core#log4j-core-}"
  log4j_version="${log4j_version%.jar}"
  [[ -n "$log4j_version" ]] || fail "Kafka $KAFKA_VERSION brought no log4j-core; cannot log"
  run_maven "$DEPENDENCY_PLUGIN:copy" \
    -Dartifact="org.apache.logging.log4j:log4j-slf4j-impl:$log4j_version" \
    -DoutputDirectory="$partial"

  rm -rf "$JARS_DIR"
  mv "$partial" "$JARS_DIR"
  touch "$FETCHED_MARKER"
  echo "Fetched $(find "$JARS_DIR" -name '*.jar' | wc -l) jars ($(du -sh "$JARS_DIR" | cut -f1))"
}

parse_common_options() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --port) port="${2:?--port needs a value}"; shift 2 ;;
      --controller-port) controller_port="${2:?--controller-port needs a value}"; shift 2 ;;
      --data) data_dir="${2:?--data needs a value}"; data_given=true; shift 2 ;;
      --fresh) fresh=true; shift ;;
      *) fail "unknown option: $1" ;;
    esac
  done
  mkdir -p "$(dirname "$data_dir")"
  data_dir="$(cd "$(dirname "$data_dir")" && pwd)/$(basename "$data_dir")"
}

pid_file() { echo "$data_dir/broker.pid"; }
bootstrap_file() { echo "$data_dir/bootstrap"; }
client_properties() { echo "$data_dir/admin-client.properties"; }

broker_pid() {
  local pid
  [[ -f "$(pid_file)" ]] || return 1
  pid="$(cat "$(pid_file)")"
  # A recycled pid must not be taken for our broker, so the command line is checked too.
  kill -0 "$pid" 2>/dev/null || return 1
  grep -q "$SERVER_CLASS" "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

scram_jaas_config() {
  local user="$1" password="$2"
  printf 'org.apache.kafka.common.security.scram.ScramLoginModule required '
  printf 'username="%s" password="%s";' "$user" "$password"
}

write_server_properties() {
  # super.users holds ANONYMOUS because the broker reaches the controller over the PLAINTEXT
  # controller listener, where it has no other name; that listener is on loopback only, and
  # the SASL listener never yields ANONYMOUS.
  cat >"$data_dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$controller_port
listeners=SASL_PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=$(scram_jaas_config \
  "$KAFKA_ADMIN_USER" "$KAFKA_ADMIN_PASSWORD")
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:$KAFKA_ADMIN_USER;User:ANONYMOUS
allow.everyone.if.no.acl.found=false
log.dirs=$data_dir/logs
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
}

write_client_properties() {
  # Short timeouts so a broker that is not up yet fails a readiness probe fast, not in a minute.
  cat >"$(client_properties)" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=$(scram_jaas_config "$KAFKA_ADMIN_USER" "$KAFKA_ADMIN_PASSWORD")
request.timeout.ms=5000
default.api.timeout.ms=15000
EOF
  chmod 600 "$(client_properties)"
}

write_log4j_configs() {
  # The broker logs to a file in the data folder; the command-line tools only warn on stderr,
  # so their stdout stays clean for callers that parse it.
  cat >"$data_dir/log4j2-broker.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders>
    <File name="file" fileName="$data_dir/broker.log">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Root level="info"><AppenderRef ref="file"/></Root>
    <Logger name="kafka.request.logger" level="warn"/>
    <Logger name="org.apache.kafka.clients" level="warn"/>
  </Loggers>
</Configuration>
EOF
  cat >"$data_dir/log4j2-tools.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders>
    <Console name="stderr" target="SYSTEM_ERR">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="warn"><AppenderRef ref="stderr"/></Root>
  </Loggers>
</Configuration>
EOF
}

# Kafka stops Log4j itself on exit; Log4j's own shutdown hook would only warn that it came late.
LOG4J_OPTS=(-Dlog4j2.shutdownHookEnabled=false)

# Runs one of Kafka's command-line tools; a short-lived JVM starts faster with the C1 compiler.
# TOOL_TIMEOUT (seconds, 0 for none) bounds it, since `timeout` cannot run a shell function.
run_tool() {
  local class="$1"
  shift
  timeout "${TOOL_TIMEOUT:-0}" java -Xmx256m -XX:TieredStopAtLevel=1 "${LOG4J_OPTS[@]}" \
    -Dlog4j2.configurationFile="$data_dir/log4j2-tools.xml" \
    -cp "$JARS_DIR/*" "$class" "$@"
}

format_storage() {
  local cluster_id
  cluster_id="$(run_tool "$STORAGE_TOOL_CLASS" random-uuid)"
  run_tool "$STORAGE_TOOL_CLASS" format --standalone \
    --config "$data_dir/server.properties" --cluster-id "$cluster_id" \
    --add-scram "SCRAM-SHA-512=[name=$KAFKA_ADMIN_USER,password=$KAFKA_ADMIN_PASSWORD]" \
    >"$data_dir/format.log" 2>&1 || {
    cat "$data_dir/format.log" >&2
    fail "formatting $data_dir/logs failed"
  }
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

admin_request_succeeds() {
  TOOL_TIMEOUT=30 run_tool "$CONFIG_COMMAND_CLASS" --bootstrap-server "$(cat "$(bootstrap_file)")" \
    --command-config "$(client_properties)" --describe --entity-type users \
    --entity-name "$KAFKA_ADMIN_USER" >/dev/null 2>&1
}

fail_with_log() {
  echo "---- last lines of $data_dir/broker.log" >&2
  tail -n 40 "$data_dir/broker.log" >&2 2>/dev/null || true
  echo "---- last lines of $data_dir/broker.out" >&2
  tail -n 20 "$data_dir/broker.out" >&2 2>/dev/null || true
  fail "$*"
}

wait_until_ready() {
  local pid="$1" deadline=$((SECONDS + KAFKA_START_TIMEOUT))

  # An open port only means the socket server is up; an authenticated admin request as the
  # admin user shows that SCRAM, the authorizer and the metadata log all work.
  until port_open "$port" && admin_request_succeeds; do
    kill -0 "$pid" 2>/dev/null || fail_with_log "the broker exited while starting"
    [[ $SECONDS -lt $deadline ]] || {
      kill -TERM "$pid" 2>/dev/null || true
      fail_with_log "the broker was not ready after ${KAFKA_START_TIMEOUT}s; it was stopped"
    }
    sleep 1
  done
}

print_connection() {
  echo "bootstrap: $(cat "$(bootstrap_file)") (SASL_PLAINTEXT, SCRAM-SHA-512)"
  echo "admin user: $KAFKA_ADMIN_USER (password: KAFKA_ADMIN_PASSWORD, or the client settings)"
  echo "client settings: $(client_properties)"
  # A broker started with --data is found again only with the same --data.
  local data_option=''
  if [[ "$data_given" == true ]]; then data_option=" --data $(printf '%q' "$data_dir")"; fi
  echo "for tests: eval \"\$(scripts/kafka.sh env$data_option)\""
}

# Meant for `eval "$(scripts/kafka.sh env)"` in tests, so it is the one place that shows the
# admin password; start and status only say where it is.
print_env() {
  printf 'KAFKA_BOOTSTRAP=%q\n' "$(cat "$(bootstrap_file)")"
  printf 'KAFKA_SASL_MECHANISM=%q\n' SCRAM-SHA-512
  printf 'KAFKA_ADMIN_USER=%q\n' "$KAFKA_ADMIN_USER"
  printf 'KAFKA_ADMIN_PASSWORD=%q\n' "$KAFKA_ADMIN_PASSWORD"
  printf 'KAFKA_CLIENT_PROPERTIES=%q\n' "$(client_properties)"
}

cmd_start() {
  parse_common_options "$@"
  [[ -f "$FETCHED_MARKER" ]] || cmd_fetch
  require_java

  local pid
  if pid="$(broker_pid)"; then
    echo "Kafka is already running (pid $pid) with data in $data_dir"
    print_connection
    return 0
  fi

  # Another process on the port would make the broker die with a bind error deep in its log.
  ! port_open "$port" || fail "127.0.0.1:$port is already in use by another process"
  ! port_open "$controller_port" \
    || fail "127.0.0.1:$controller_port is already in use by another process"

  if [[ "$fresh" == true ]]; then
    rm -rf "$data_dir"
  fi
  mkdir -p "$data_dir"
  write_server_properties
  write_client_properties
  write_log4j_configs
  echo "127.0.0.1:$port" >"$(bootstrap_file)"

  # A formatted log folder keeps its users and topics across restarts; only a new one is
  # formatted, which is also when the admin user's SCRAM credential is written.
  if [[ ! -f "$data_dir/logs/meta.properties" ]]; then
    format_storage
  fi

  local started=$SECONDS
  # setsid detaches the broker from this shell's job control, so it outlives the caller.
  # shellcheck disable=SC2086 # both settings hold several JVM options
  setsid java $KAFKA_HEAP_OPTS $KAFKA_JVM_PERFORMANCE_OPTS -Djava.awt.headless=true \
    "${LOG4J_OPTS[@]}" -Dlog4j2.configurationFile="$data_dir/log4j2-broker.xml" \
    -cp "$JARS_DIR/*" "$SERVER_CLASS" "$data_dir/server.properties" \
    >"$data_dir/broker.out" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$(pid_file)"

  wait_until_ready "$pid"
  echo "Kafka $KAFKA_VERSION ready in $((SECONDS - started))s (pid $pid, log $data_dir/broker.log)"
  print_connection
}

cmd_stop() {
  parse_common_options "$@"
  local pid
  if ! pid="$(broker_pid)"; then
    echo "Kafka is not running (data in $data_dir)"
    rm -f "$(pid_file)"
    return 0
  fi

  kill -TERM "$pid"
  # A clean shutdown flushes the logs; after 30 s the broker is killed so CI never hangs here.
  local waited=0
  while kill -0 "$pid" 2>/dev/null && [[ $waited -lt 30 ]]; do
    sleep 1
    waited=$((waited + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "Kafka did not stop within 30s; killing pid $pid" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$(pid_file)"
  echo "Kafka stopped (pid $pid)"
}

cmd_status() {
  parse_common_options "$@"
  local pid
  if pid="$(broker_pid)"; then
    echo "Kafka is running (pid $pid) with data in $data_dir"
    print_connection
  else
    echo "Kafka is not running (data in $data_dir)"
    return 1
  fi
}

cmd_env() {
  parse_common_options "$@"
  [[ -f "$(bootstrap_file)" ]] || fail "no broker was started with data in $data_dir"
  print_env
}

# Runs one of Kafka's admin tools against the running broker, logged in as the admin user.
run_admin_tool() {
  local class="$1"
  shift
  broker_pid >/dev/null \
    || fail "Kafka is not running (data in $data_dir): run scripts/kafka.sh start"
  run_tool "$class" --bootstrap-server "$(cat "$(bootstrap_file)")" \
    --command-config "$(client_properties)" "$@"
}

cmd_describe_users() {
  if [[ $# -gt 0 ]]; then
    run_admin_tool "$CONFIG_COMMAND_CLASS" --describe --entity-type users --entity-name "$1"
  else
    run_admin_tool "$CONFIG_COMMAND_CLASS" --describe --entity-type users
  fi
}

main() {
  [[ $# -gt 0 ]] || usage 2
  local command="$1"
  shift
  case "$command" in
    fetch) cmd_fetch ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    env) cmd_env "$@" ;;
    configs) run_admin_tool "$CONFIG_COMMAND_CLASS" "$@" ;;
    topics) run_admin_tool "$TOPIC_COMMAND_CLASS" "$@" ;;
    acls) run_admin_tool "$ACL_COMMAND_CLASS" "$@" ;;
    describe-users) cmd_describe_users "$@" ;;
    -h | --help | help) usage ;;
    *) fail "unknown command: $command (try --help)" ;;
  esac
}

main "$@"
