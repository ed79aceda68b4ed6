/* bunder_tenant.h — the tenant policy: what a client that bunder-manager authenticated for a
 * project (a "tenant") may not do in that project's process. One table, used by
 *   - bunder's dispatcher and CONFIG (tenant.c): handed-off sockets and connections that logged
 *     in as BUNDER_TENANT_USER (the manager's relay) are tenants;
 *   - bunder-manager, which turns the command rows into the ACL of BUNDER_TENANT_USER when the
 *     child is a redis-server stand-in (bmgr_child.c).
 * docs/bunder-manager.md "Tenant policy for Redis commands" explains every row. Header only: no
 * code, no dependencies.
 *
 * Rows: X(kind, name, why)
 *   BUNDER_TP_COMMAND     a command a tenant may not run at all
 *   BUNDER_TP_SUBCOMMAND  "command|subcommand" a tenant may not run
 *   BUNDER_TP_HIDDEN      a parameter CONFIG GET never shows a tenant (an exact name is refused)
 *   BUNDER_TP_SETTABLE    a parameter a tenant may CONFIG SET; every parameter NOT listed here is
 *                         refused ("can't set protected config"), so a new option is protected
 *                         until someone decides otherwise
 * One exception, in tenant.c: SHUTDOWN NOSAVE while a script is busy (past busy-reply-threshold)
 * is allowed — the only way out of a never-ending script that already wrote; the manager restarts
 * the process. On a redis-server stand-in, whose ACL cannot tell CONFIG parameters apart, tenants get no CONFIG
 * at all. SAVE, BGSAVE, BGREWRITEAOF and LASTSAVE are allowed: they write only the project's own
 * files, whose names (dbfilename, appendfilename) a tenant cannot change.
 */
#ifndef BUNDER_TENANT_H
#define BUNDER_TENANT_H

/* The user name bunder-manager's relay logs in with ("AUTH bunbase-tenant <secret>"): same
 * password as the default user, but the connection is a tenant's. */
#define BUNDER_TENANT_USER "bunbase-tenant"

enum bunder_tenant_kind {
    BUNDER_TP_COMMAND,
    BUNDER_TP_SUBCOMMAND,
    BUNDER_TP_HIDDEN,
    BUNDER_TP_SETTABLE,
};

#define BUNDER_TENANT_POLICY(X)                                                                  \
    X(BUNDER_TP_COMMAND, "shutdown", "stops the project's process; bunder-manager owns its lifecycle") \
    X(BUNDER_TP_COMMAND, "debug", "crashes, sleeps or reloads the process")                     \
    X(BUNDER_TP_COMMAND, "module", "loads native code into the process")                        \
    X(BUNDER_TP_COMMAND, "acl", "changes users and passwords of the process")                   \
    X(BUNDER_TP_COMMAND, "replicaof", "makes the process replicate (overwrite its data from) any host") \
    X(BUNDER_TP_COMMAND, "slaveof", "same as REPLICAOF")                                        \
    X(BUNDER_TP_COMMAND, "failover", "replication control")                                     \
    X(BUNDER_TP_COMMAND, "sync", "replication stream of the whole dataset")                     \
    X(BUNDER_TP_COMMAND, "psync", "replication stream of the whole dataset")                    \
    X(BUNDER_TP_COMMAND, "migrate", "opens connections from the server to any host")            \
    X(BUNDER_TP_COMMAND, "cluster", "cluster administration")                                   \
    X(BUNDER_TP_SUBCOMMAND, "config|rewrite", "writes the process' configuration file")         \
    X(BUNDER_TP_SUBCOMMAND, "config|resetstat", "resets the statistics the operator's metrics read") \
    X(BUNDER_TP_HIDDEN, "requirepass", "the process' internal password: whoever knows it is no longer a tenant") \
    X(BUNDER_TP_HIDDEN, "port", "the process' private port on the host")                        \
    X(BUNDER_TP_HIDDEN, "bind", "host network layout")                                          \
    X(BUNDER_TP_HIDDEN, "dir", "host file system layout")                                       \
    X(BUNDER_TP_HIDDEN, "logfile", "host file system layout")                                   \
    X(BUNDER_TP_HIDDEN, "http-port", "the process' private HTTP port")                          \
    X(BUNDER_TP_HIDDEN, "http-bind", "host network layout")                                     \
    X(BUNDER_TP_HIDDEN, "buncast", "address of the internal event bus")                         \
    X(BUNDER_TP_HIDDEN, "handoff-fd", "internal channel to bunder-manager")                     \
    X(BUNDER_TP_SETTABLE, "maxmemory-samples", "eviction accuracy inside the project's own quota") \
    X(BUNDER_TP_SETTABLE, "notify-keyspace-events", "keyspace notifications of the project's own keys") \
    X(BUNDER_TP_SETTABLE, "list-compress-depth", "accepted without effect (an application's start-up CONFIG SET)") \
    X(BUNDER_TP_SETTABLE, "list-max-listpack-size", "no effect but what OBJECT ENCODING reports") \
    X(BUNDER_TP_SETTABLE, "list-max-ziplist-size", "alias of list-max-listpack-size") \
    X(BUNDER_TP_SETTABLE, "hash-max-listpack-entries", "what OBJECT ENCODING reports for the project's hashes") \
    X(BUNDER_TP_SETTABLE, "hash-max-listpack-value", "same") \
    X(BUNDER_TP_SETTABLE, "hash-max-ziplist-entries", "alias of hash-max-listpack-entries") \
    X(BUNDER_TP_SETTABLE, "hash-max-ziplist-value", "alias of hash-max-listpack-value") \
    X(BUNDER_TP_SETTABLE, "zset-max-listpack-entries", "what OBJECT ENCODING reports for the project's sorted sets") \
    X(BUNDER_TP_SETTABLE, "zset-max-listpack-value", "same") \
    X(BUNDER_TP_SETTABLE, "zset-max-ziplist-entries", "alias of zset-max-listpack-entries") \
    X(BUNDER_TP_SETTABLE, "zset-max-ziplist-value", "alias of zset-max-listpack-value") \
    X(BUNDER_TP_SETTABLE, "set-max-intset-entries", "what OBJECT ENCODING reports for the project's sets") \
    X(BUNDER_TP_SETTABLE, "slowlog-log-slower-than", "which of the project's own commands its SLOWLOG keeps (slowlog-max-len, the memory bound, stays protected)") \
    X(BUNDER_TP_SETTABLE, "latency-monitor-threshold", "accepted without effect") \
    X(BUNDER_TP_SETTABLE, "lfu-log-factor", "accepted without effect") \
    X(BUNDER_TP_SETTABLE, "lfu-decay-time", "accepted without effect")

#endif
