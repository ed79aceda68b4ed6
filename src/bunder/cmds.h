/* cmds.h — the command list (X-macro): name, arity, flags, first key, last key, key step, group,
 * summary. commands.c turns it into the dispatch table (struct bndr_cmd) and every cmd_*.c
 * defines bndr_cmd_<name>. Flags: W write, R read-only, M deny-on-OOM, A admin, P pub/sub,
 * N allowed before AUTH, S allowed while subscribed (RESP2), X runs immediately inside MULTI,
 * F fast, B blocking. */
#ifndef BNDR_CMDS_H
#define BNDR_CMDS_H

#define BNDR_COMMANDS(X)                                                                        \
    /* strings */                                                                              \
    X(get, 2, "RF", 1, 1, 1, "string", "Returns the string value of a key.")                    \
    X(set, -3, "WM", 1, 1, 1, "string", "Sets the string value of a key, ignoring its type.")   \
    X(mget, -2, "RF", 1, -1, 1, "string", "Atomically returns the string values of keys.")      \
    X(mset, -3, "WM", 1, -1, 2, "string", "Atomically creates or modifies keys.")               \
    X(msetnx, -3, "WM", 1, -1, 2, "string", "Sets keys only when none of them exist.")          \
    X(setnx, 3, "WMF", 1, 1, 1, "string", "Set the value of a key only when it does not exist.") \
    X(setex, 4, "WM", 1, 1, 1, "string", "Sets the value and expiration time (seconds).")       \
    X(psetex, 4, "WM", 1, 1, 1, "string", "Sets the value and expiration time (ms).")           \
    X(getset, 3, "WMF", 1, 1, 1, "string", "Returns the old value and sets a new one.")        \
    X(incr, 2, "WMF", 1, 1, 1, "string", "Increments the integer value of a key by one.")       \
    X(decr, 2, "WMF", 1, 1, 1, "string", "Decrements the integer value of a key by one.")       \
    X(incrby, 3, "WMF", 1, 1, 1, "string", "Increments the integer value of a key by a number.") \
    X(decrby, 3, "WMF", 1, 1, 1, "string", "Decrements a number from the integer value.")       \
    X(incrbyfloat, 3, "WMF", 1, 1, 1, "string", "Increment the floating point value of a key.") \
    X(append, 3, "WMF", 1, 1, 1, "string", "Appends a string to the value of a key.")          \
    X(strlen, 2, "RF", 1, 1, 1, "string", "Returns the length of a string value.")              \
    X(getrange, 4, "R", 1, 1, 1, "string", "Returns a substring of the string value.")          \
    X(substr, 4, "R", 1, 1, 1, "string", "Returns a substring of the string value.")            \
    X(setrange, 4, "WM", 1, 1, 1, "string", "Overwrites part of a string value from an offset.") \
    X(getdel, 2, "WF", 1, 1, 1, "string", "Returns the string value of a key after deleting it.") \
    X(getex, -2, "WF", 1, 1, 1, "string", "Returns the value of a key after setting its TTL.")  \
    X(lcs, -3, "R", 1, 2, 1, "string", "Finds the longest common substring.")                 \
    /* keys */                                                                                 \
    X(del, -2, "W", 1, -1, 1, "generic", "Deletes one or more keys.")                           \
    X(unlink, -2, "WF", 1, -1, 1, "generic", "Deletes one or more keys.")                       \
    X(exists, -2, "RF", 1, -1, 1, "generic", "Determines whether one or more keys exist.")      \
    X(touch, -2, "RF", 1, -1, 1, "generic", "Alters the last access time of keys.")             \
    X(type, 2, "RF", 1, 1, 1, "generic", "Determines the type of value stored at a key.")       \
    X(expire, -3, "WF", 1, 1, 1, "generic", "Sets the expiration time of a key in seconds.")    \
    X(pexpire, -3, "WF", 1, 1, 1, "generic", "Sets the expiration time of a key in ms.")        \
    X(expireat, -3, "WF", 1, 1, 1, "generic", "Sets the expiration time to a Unix timestamp.")  \
    X(pexpireat, -3, "WF", 1, 1, 1, "generic", "Sets the expiration time to a Unix ms time.")   \
    X(ttl, 2, "RF", 1, 1, 1, "generic", "Returns the expiration time in seconds of a key.")     \
    X(pttl, 2, "RF", 1, 1, 1, "generic", "Returns the expiration time in ms of a key.")         \
    X(expiretime, 2, "RF", 1, 1, 1, "generic", "Returns the expiration Unix timestamp.")        \
    X(pexpiretime, 2, "RF", 1, 1, 1, "generic", "Returns the expiration Unix ms timestamp.")    \
    X(persist, 2, "WF", 1, 1, 1, "generic", "Removes the expiration time of a key.")            \
    X(rename, 3, "W", 1, 2, 1, "generic", "Renames a key and overwrites the destination.")      \
    X(renamenx, 3, "WF", 1, 2, 1, "generic", "Renames a key only when the target is absent.")   \
    X(keys, 2, "R", 0, 0, 0, "generic", "Returns all key names that match a pattern.")          \
    X(scan, -2, "R", 0, 0, 0, "generic", "Iterates over the key names in the database.")        \
    X(dbsize, 1, "RF", 0, 0, 0, "server", "Returns the number of keys in the database.")        \
    X(flushdb, -1, "W", 0, 0, 0, "server", "Removes all keys from the current database.")       \
    X(flushall, -1, "W", 0, 0, 0, "server", "Removes all keys from all databases.")             \
    X(randomkey, 1, "R", 0, 0, 0, "generic", "Returns a random key name from the database.")    \
    X(sort, -2, "WM", 1, 1, 1, "generic", "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.") \
    X(sort_ro, -2, "R", 1, 1, 1, "generic", "Returns the sorted elements of a list, a set, or a sorted set.") \
    X(copy, -3, "WM", 1, 2, 1, "generic", "Copies the value of a key to a new key.")            \
    X(dump, 2, "R", 1, 1, 1, "generic", "Returns a serialized representation of the value stored at a key.") \
    X(restore, -4, "WM", 1, 1, 1, "generic", "Creates a key from the serialized representation of a value.") \
    /* lists */                                                                                \
    X(lpush, -3, "WMF", 1, 1, 1, "list", "Prepends one or more elements to a list.")            \
    X(rpush, -3, "WMF", 1, 1, 1, "list", "Appends one or more elements to a list.")             \
    X(lpushx, -3, "WMF", 1, 1, 1, "list", "Prepends elements only when the list exists.")       \
    X(rpushx, -3, "WMF", 1, 1, 1, "list", "Appends elements only when the list exists.")        \
    X(lpop, -2, "WF", 1, 1, 1, "list", "Returns the first elements of a list after removal.")   \
    X(rpop, -2, "WF", 1, 1, 1, "list", "Returns the last elements of a list after removal.")    \
    X(lrange, 4, "R", 1, 1, 1, "list", "Returns a range of elements from a list.")              \
    X(llen, 2, "RF", 1, 1, 1, "list", "Returns the length of a list.")                          \
    X(lindex, 3, "R", 1, 1, 1, "list", "Returns an element from a list by its index.")          \
    X(lset, 4, "WM", 1, 1, 1, "list", "Sets the value of an element in a list by its index.")   \
    X(lrem, 4, "W", 1, 1, 1, "list", "Removes elements from a list.")                           \
    X(ltrim, 4, "W", 1, 1, 1, "list", "Removes elements from both ends of a list.")             \
    X(linsert, 5, "WM", 1, 1, 1, "list", "Inserts an element before or after another element.") \
    X(lpos, -3, "R", 1, 1, 1, "list", "Returns the index of matching elements in a list.")      \
    X(lmove, 5, "WM", 1, 2, 1, "list", "Pops an element from a list, pushes it to another.")    \
    X(rpoplpush, 3, "WM", 1, 2, 1, "list", "Pops the last element, pushes it to another list.") \
    X(blpop, -3, "WB", 1, -2, 1, "list", "Removes and returns the first element, or blocks.")   \
    X(brpop, -3, "WB", 1, -2, 1, "list", "Removes and returns the last element, or blocks.")    \
    X(blmove, 6, "WMB", 1, 2, 1, "list", "Pops an element from a list, pushes it to another, or blocks.") \
    X(brpoplpush, 4, "WMB", 1, 2, 1, "list", "Pops the last element, pushes it to another list, or blocks.") \
    X(lmpop, -4, "W", 0, 0, 0, "list", "Returns multiple elements from a list after removing them.") \
    X(blmpop, -5, "WB", 0, 0, 0, "list", "Pops elements from the first non-empty list, or blocks.") \
    /* sets */                                                                                 \
    X(sadd, -3, "WMF", 1, 1, 1, "set", "Adds one or more members to a set.")                    \
    X(srem, -3, "WF", 1, 1, 1, "set", "Removes one or more members from a set.")                \
    X(smembers, 2, "R", 1, 1, 1, "set", "Returns all members of a set.")                        \
    X(sismember, 3, "RF", 1, 1, 1, "set", "Determines whether a member belongs to a set.")      \
    X(smismember, -3, "RF", 1, 1, 1, "set", "Determines whether members belong to a set.")      \
    X(scard, 2, "RF", 1, 1, 1, "set", "Returns the number of members in a set.")                \
    X(spop, -2, "WF", 1, 1, 1, "set", "Returns and removes random members from a set.")         \
    X(srandmember, -2, "R", 1, 1, 1, "set", "Returns random members from a set.")               \
    X(smove, 4, "WF", 1, 2, 1, "set", "Moves a member from one set to another.")                \
    X(sinter, -2, "R", 1, -1, 1, "set", "Returns the intersect of multiple sets.")              \
    X(sinterstore, -3, "WM", 1, -1, 1, "set", "Stores the intersect of multiple sets.")         \
    X(sunion, -2, "R", 1, -1, 1, "set", "Returns the union of multiple sets.")                  \
    X(sunionstore, -3, "WM", 1, -1, 1, "set", "Stores the union of multiple sets.")             \
    X(sdiff, -2, "R", 1, -1, 1, "set", "Returns the difference of multiple sets.")              \
    X(sdiffstore, -3, "WM", 1, -1, 1, "set", "Stores the difference of multiple sets.")         \
    X(sscan, -3, "R", 1, 1, 1, "set", "Iterates over members of a set.")                        \
    X(sintercard, -3, "R", 0, 0, 0, "set", "Returns the number of members of the intersect of multiple sets.") \
    /* hashes */                                                                               \
    X(hset, -4, "WMF", 1, 1, 1, "hash", "Creates or modifies the value of fields in a hash.")   \
    X(hmset, -4, "WMF", 1, 1, 1, "hash", "Sets the values of multiple fields.")                 \
    X(hsetnx, 4, "WMF", 1, 1, 1, "hash", "Sets the value of a field only when it is absent.")   \
    X(hget, 3, "RF", 1, 1, 1, "hash", "Returns the value of a field in a hash.")                \
    X(hmget, -3, "RF", 1, 1, 1, "hash", "Returns the values of all fields in a hash.")          \
    X(hgetall, 2, "R", 1, 1, 1, "hash", "Returns all fields and values in a hash.")             \
    X(hdel, -3, "WF", 1, 1, 1, "hash", "Deletes one or more fields and their values.")          \
    X(hexists, 3, "RF", 1, 1, 1, "hash", "Determines whether a field exists in a hash.")        \
    X(hlen, 2, "RF", 1, 1, 1, "hash", "Returns the number of fields in a hash.")                \
    X(hkeys, 2, "R", 1, 1, 1, "hash", "Returns all fields in a hash.")                          \
    X(hvals, 2, "R", 1, 1, 1, "hash", "Returns all values in a hash.")                          \
    X(hincrby, 4, "WMF", 1, 1, 1, "hash", "Increments the integer value of a field.")           \
    X(hincrbyfloat, 4, "WMF", 1, 1, 1, "hash", "Increments the floating point value of a field.") \
    X(hstrlen, 3, "RF", 1, 1, 1, "hash", "Returns the length of the value of a field.")         \
    X(hscan, -3, "R", 1, 1, 1, "hash", "Iterates over fields and values of a hash.")            \
    X(hrandfield, -2, "R", 1, 1, 1, "hash", "Returns one or more random fields from a hash.")   \
    /* sorted sets */                                                                          \
    X(zadd, -4, "WMF", 1, 1, 1, "sorted-set", "Adds members to a sorted set, or updates scores.") \
    X(zrem, -3, "WF", 1, 1, 1, "sorted-set", "Removes members from a sorted set.")              \
    X(zscore, 3, "RF", 1, 1, 1, "sorted-set", "Returns the score of a member.")                 \
    X(zmscore, -3, "RF", 1, 1, 1, "sorted-set", "Returns the score of one or more members.")    \
    X(zincrby, 4, "WMF", 1, 1, 1, "sorted-set", "Increments the score of a member.")            \
    X(zcard, 2, "RF", 1, 1, 1, "sorted-set", "Returns the number of members.")                  \
    X(zcount, 4, "RF", 1, 1, 1, "sorted-set", "Returns the count of members in a score range.") \
    X(zlexcount, 4, "RF", 1, 1, 1, "sorted-set", "Returns the count of members in a lex range.") \
    X(zrank, 3, "RF", 1, 1, 1, "sorted-set", "Returns the index of a member, by ascending score.") \
    X(zrevrank, 3, "RF", 1, 1, 1, "sorted-set", "Returns the index of a member, descending.")  \
    X(zrange, -4, "R", 1, 1, 1, "sorted-set", "Returns members in a range of indexes, scores or lex.") \
    X(zrangebyscore, -4, "R", 1, 1, 1, "sorted-set", "Returns members in a range of scores.")  \
    X(zrevrangebyscore, -4, "R", 1, 1, 1, "sorted-set", "Returns members in a score range, reversed.") \
    X(zrangebylex, -4, "R", 1, 1, 1, "sorted-set", "Returns members in a lexicographical range.") \
    X(zrevrangebylex, -4, "R", 1, 1, 1, "sorted-set", "Returns members in a lex range, reversed.") \
    X(zrevrange, -4, "R", 1, 1, 1, "sorted-set", "Returns members in a range of indexes, reversed.") \
    X(zremrangebyscore, 4, "W", 1, 1, 1, "sorted-set", "Removes members in a range of scores.") \
    X(zremrangebyrank, 4, "W", 1, 1, 1, "sorted-set", "Removes members in a range of indexes.") \
    X(zpopmin, -2, "WF", 1, 1, 1, "sorted-set", "Returns the lowest-scoring members after removing them.") \
    X(zpopmax, -2, "WF", 1, 1, 1, "sorted-set", "Returns the highest-scoring members after removing them.") \
    X(zscan, -3, "R", 1, 1, 1, "sorted-set", "Iterates over members and scores.")               \
    X(zrangestore, -5, "WM", 1, 2, 1, "sorted-set", "Stores a range of members from sorted set in a key.") \
    X(zremrangebylex, 4, "W", 1, 1, 1, "sorted-set", "Removes members in a lexicographical range.") \
    X(zrandmember, -2, "R", 1, 1, 1, "sorted-set", "Returns one or more random members from a sorted set.") \
    X(zunion, -3, "R", 0, 0, 0, "sorted-set", "Returns the union of multiple sorted sets.")      \
    X(zinter, -3, "R", 0, 0, 0, "sorted-set", "Returns the intersect of multiple sorted sets.")  \
    X(zdiff, -3, "R", 0, 0, 0, "sorted-set", "Returns the difference between multiple sorted sets.") \
    X(zunionstore, -4, "WM", 1, 1, 1, "sorted-set", "Stores the union of multiple sorted sets in a key.") \
    X(zinterstore, -4, "WM", 1, 1, 1, "sorted-set", "Stores the intersect of multiple sorted sets in a key.") \
    X(zdiffstore, -4, "WM", 1, 1, 1, "sorted-set", "Stores the difference of multiple sorted sets in a key.") \
    X(zintercard, -3, "R", 0, 0, 0, "sorted-set", "Returns the number of members of the intersect of multiple sorted sets.") \
    X(zmpop, -4, "W", 0, 0, 0, "sorted-set", "Returns the highest- or lowest-scoring members after removing them.") \
    X(bzmpop, -5, "WB", 0, 0, 0, "sorted-set", "Removes and returns members by score, or blocks.") \
    X(bzpopmin, -3, "WFB", 1, -2, 1, "sorted-set", "Removes and returns the lowest-scoring member, or blocks.") \
    X(bzpopmax, -3, "WFB", 1, -2, 1, "sorted-set", "Removes and returns the highest-scoring member, or blocks.") \
    /* geo (cmd_geo.c): positions are zset scores */                                         \
    X(geoadd, -5, "WM", 1, 1, 1, "geo", "Adds one or more members to a geospatial index.")      \
    X(geodist, -4, "R", 1, 1, 1, "geo", "Returns the distance between two members of a geospatial index.") \
    X(geohash, -2, "R", 1, 1, 1, "geo", "Returns members from a geospatial index as geohash strings.") \
    X(geopos, -2, "R", 1, 1, 1, "geo", "Returns the longitude and latitude of members from a geospatial index.") \
    X(georadius, -6, "WM", 1, 1, 1, "geo", "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.") \
    X(georadius_ro, -6, "R", 1, 1, 1, "geo", "Returns members from a geospatial index that are within a distance from a coordinate.") \
    X(georadiusbymember, -5, "WM", 1, 1, 1, "geo", "Queries a geospatial index for members within a distance from a member, optionally stores the result.") \
    X(georadiusbymember_ro, -5, "R", 1, 1, 1, "geo", "Returns members from a geospatial index that are within a distance from a member.") \
    X(geosearch, -7, "R", 1, 1, 1, "geo", "Queries a geospatial index for members inside an area of a box or a circle.") \
    X(geosearchstore, -8, "WM", 1, 2, 1, "geo", "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.") \
    /* pub/sub */                                                                              \
    X(subscribe, -2, "PS", 0, 0, 0, "pubsub", "Listens for messages published to channels.")    \
    X(unsubscribe, -1, "PS", 0, 0, 0, "pubsub", "Stops listening to messages posted to channels.") \
    X(psubscribe, -2, "PS", 0, 0, 0, "pubsub", "Listens for messages published to channels matching patterns.") \
    X(punsubscribe, -1, "PS", 0, 0, 0, "pubsub", "Stops listening to patterns.")                \
    X(publish, 3, "PF", 0, 0, 0, "pubsub", "Posts a message to a channel.")                     \
    X(pubsub, -2, "P", 0, 0, 0, "pubsub", "PUBSUB CHANNELS | NUMSUB | NUMPAT.")                 \
    X(ssubscribe, -2, "PS", 1, -1, 1, "pubsub", "Listens for messages published to shard channels.") \
    X(sunsubscribe, -1, "PS", 1, -1, 1, "pubsub", "Stops listening to messages posted to shard channels.") \
    X(spublish, 3, "PF", 1, 1, 1, "pubsub", "Post a message to a shard channel")                 \
    /* transactions */                                                                         \
    X(multi, 1, "XF", 0, 0, 0, "transactions", "Starts a transaction.")                         \
    X(exec, 1, "X", 0, 0, 0, "transactions", "Executes all commands in a transaction.")         \
    X(discard, 1, "XF", 0, 0, 0, "transactions", "Discards a transaction.")                     \
    X(watch, -2, "XF", 1, -1, 1, "transactions", "Monitors changes to keys to determine the execution of a transaction.") \
    X(unwatch, 1, "F", 0, 0, 0, "transactions", "Forgets about watched keys of a transaction.") \
    /* server / connection */                                                                  \
    X(ping, -1, "SF", 0, 0, 0, "connection", "Returns the server's liveliness response.")       \
    X(echo, 2, "F", 0, 0, 0, "connection", "Returns the given string.")                         \
    X(auth, -2, "NSF", 0, 0, 0, "connection", "Authenticates the connection.")                  \
    X(hello, -1, "NSF", 0, 0, 0, "connection", "Handshakes with the server (RESP2/RESP3).")     \
    X(select, 2, "F", 0, 0, 0, "connection", "Changes the selected database (only 0).")         \
    X(quit, -1, "NSXF", 0, 0, 0, "connection", "Closes the connection.")                        \
    X(reset, 1, "NSXF", 0, 0, 0, "connection", "Resets the connection.")                        \
    X(client, -2, "S", 0, 0, 0, "connection", "CLIENT ID | GETNAME | SETNAME | LIST | INFO.")   \
    X(info, -1, "", 0, 0, 0, "server", "Returns information and statistics about the server.")  \
    X(time, 1, "F", 0, 0, 0, "server", "Returns the server time.")                              \
    X(command, -1, "", 0, 0, 0, "server", "Returns detailed information about all commands.")   \
    X(config, -2, "A", 0, 0, 0, "server", "CONFIG GET | SET | RESETSTAT | REWRITE.")            \
    X(save, 1, "A", 0, 0, 0, "server", "Synchronously saves the database to disk.")             \
    X(bgsave, -1, "A", 0, 0, 0, "server", "Asynchronously saves the database to disk.")         \
    X(bgrewriteaof, 1, "A", 0, 0, 0, "server", "Asynchronously rewrites the append-only file.") \
    X(lastsave, 1, "F", 0, 0, 0, "server", "Returns the Unix time of the last successful save.") \
    X(shutdown, -1, "A", 0, 0, 0, "server", "Synchronously saves and shuts down the server.")    \
    X(memory, -2, "R", 0, 0, 0, "server", "MEMORY USAGE key.")                                  \
    /* scripting (cmd_script.c) */                                                             \
    X(eval, -3, "", 0, 0, 0, "scripting", "Executes a server-side Lua script.")                 \
    X(evalsha, -3, "", 0, 0, 0, "scripting", "Executes a server-side Lua script by SHA1 digest.") \
    X(eval_ro, -3, "R", 0, 0, 0, "scripting", "Executes a read-only server-side Lua script.")   \
    X(evalsha_ro, -3, "R", 0, 0, 0, "scripting", "Executes a read-only Lua script by SHA1 digest.") \
    X(script, -2, "", 0, 0, 0, "scripting", "SCRIPT LOAD | EXISTS | FLUSH | KILL | HELP.")      \
    /* bitmaps (cmd_bitmap.c) */                                                               \
    X(setbit, 4, "WM", 1, 1, 1, "bitmap", "Sets or clears the bit at offset of the string value.") \
    X(getbit, 3, "RF", 1, 1, 1, "bitmap", "Returns a bit value by offset.")                     \
    X(bitcount, -2, "R", 1, 1, 1, "bitmap", "Counts the number of set bits (population counting).") \
    X(bitpos, -3, "R", 1, 1, 1, "bitmap", "Finds the first set (1) or clear (0) bit in a string.") \
    X(bitop, -4, "WM", 2, -1, 1, "bitmap", "Performs bitwise operations on multiple strings.")  \
    X(bitfield, -2, "WM", 1, 1, 1, "bitmap", "Performs arbitrary bitfield integer operations on strings.") \
    X(bitfield_ro, -2, "RF", 1, 1, 1, "bitmap", "Performs arbitrary read-only bitfield integer operations.") \
    /* HyperLogLog (cmd_hll.c) */                                                              \
    X(pfadd, -2, "WMF", 1, 1, 1, "hyperloglog", "Adds elements to a HyperLogLog key.")         \
    X(pfcount, -2, "R", 1, -1, 1, "hyperloglog", "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).") \
    X(pfmerge, -2, "WM", 1, -1, 1, "hyperloglog", "Merges one or more HyperLogLog values into a single key.") \
    X(pfdebug, 3, "WMA", 2, 2, 1, "hyperloglog", "Internal commands for debugging HyperLogLog values.") \
    X(pfselftest, 1, "A", 0, 0, 0, "hyperloglog", "An internal command for testing HyperLogLog values.") \
    /* streams (cmd_stream.c); group-state commands list no keys: like Redis they do not       \
     * invalidate WATCH (XGROUP CREATE MKSTREAM signals itself) */                             \
    X(xadd, -5, "WMF", 1, 1, 1, "stream", "Appends a new message to a stream. Creates the key if it doesn't exist.") \
    X(xrange, -4, "R", 1, 1, 1, "stream", "Returns the messages from a stream within a range of IDs.") \
    X(xrevrange, -4, "R", 1, 1, 1, "stream", "Returns the messages from a stream within a range of IDs in reverse order.") \
    X(xlen, 2, "RF", 1, 1, 1, "stream", "Return the number of messages in a stream.")            \
    X(xdel, -3, "WF", 1, 1, 1, "stream", "Returns the number of messages after removing them from a stream.") \
    X(xtrim, -4, "W", 1, 1, 1, "stream", "Deletes messages from the beginning of a stream.")    \
    X(xread, -4, "R", 0, 0, 0, "stream", "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise.") \
    X(xreadgroup, -7, "W", 0, 0, 0, "stream", "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.") \
    X(xack, -4, "WF", 0, 0, 0, "stream", "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.") \
    X(xpending, -3, "R", 1, 1, 1, "stream", "Returns the information and entries from a stream consumer group's pending entries list.") \
    X(xclaim, -6, "WF", 0, 0, 0, "stream", "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.") \
    X(xautoclaim, -6, "WF", 0, 0, 0, "stream", "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.") \
    X(xgroup, -2, "W", 0, 0, 0, "stream", "XGROUP CREATE | SETID | DESTROY | CREATECONSUMER | DELCONSUMER | HELP.") \
    X(xinfo, -2, "R", 2, 2, 1, "stream", "XINFO STREAM | GROUPS | CONSUMERS | HELP.")           \
    X(xsetid, -3, "WMF", 1, 1, 1, "stream", "An internal command for replicating stream values.") \
    /* databases (cmd_server.c) */                                                             \
    X(move, 3, "WF", 1, 1, 1, "generic", "Moves a key to another database.")                    \
    X(swapdb, 3, "WF", 0, 0, 0, "server", "Swaps two Redis databases.") \
    /* introspection, administration, no cluster/replication/modules (cmd_admin.c) */           \
    X(object, -2, "R", 2, 2, 1, "generic", "OBJECT ENCODING | FREQ | IDLETIME | REFCOUNT | HELP.") \
    X(slowlog, -2, "A", 0, 0, 0, "server", "SLOWLOG GET | LEN | RESET | HELP.")                  \
    X(latency, -2, "A", 0, 0, 0, "server", "LATENCY DOCTOR | GRAPH | HISTORY | LATEST | RESET | HISTOGRAM | HELP.") \
    X(debug, -2, "A", 0, 0, 0, "server", "A container for debugging commands.")                 \
    X(lolwut, -1, "RF", 0, 0, 0, "server", "Displays computer art and the Redis version")       \
    X(cluster, -2, "", 0, 0, 0, "cluster", "A container for Redis Cluster commands.")           \
    X(asking, 1, "F", 0, 0, 0, "cluster", "Signals that a cluster client is following an -ASK redirect.") \
    X(readonly, 1, "F", 0, 0, 0, "cluster", "Enables read-only queries for a connection to a Redis Cluster replica node.") \
    X(readwrite, 1, "F", 0, 0, 0, "cluster", "Enables read-write queries for a connection to a Reids Cluster replica node.") \
    X(wait, 3, "", 0, 0, 0, "generic", "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.") \
    X(failover, -1, "A", 0, 0, 0, "server", "Starts a coordinated failover from a server to one of its replicas.") \
    X(replicaof, 3, "A", 0, 0, 0, "server", "Configures a server as replica of another, or promotes it to a master.") \
    X(slaveof, 3, "A", 0, 0, 0, "server", "Sets a Redis server as a replica of another, or promotes it to being a master.") \
    X(sync, 1, "A", 0, 0, 0, "server", "An internal command used in replication.")              \
    X(psync, -3, "A", 0, 0, 0, "server", "An internal command used in replication.")             \
    X(replconf, -1, "A", 0, 0, 0, "server", "An internal command for configuring the replication stream.") \
    X(module, -2, "A", 0, 0, 0, "server", "A container for module commands.") \
    X(role, 1, "F", 0, 0, 0, "server", "Returns the replication role.")                         \
    X(monitor, 1, "A", 0, 0, 0, "server", "Listens for all requests received by the server in real-time.") \
    /* functions (cmd_script.c) */                                                             \
    X(function, -2, "W", 0, 0, 0, "scripting", "FUNCTION LOAD | DELETE | FLUSH | LIST | STATS | KILL | DUMP | RESTORE | HELP.") \
    X(fcall, -3, "", 0, 0, 0, "scripting", "Invokes a function.")                              \
    X(fcall_ro, -3, "R", 0, 0, 0, "scripting", "Invokes a read-only function.") \
    X(acl, -2, "A", 0, 0, 0, "server", "ACL SETUSER | GETUSER | DELUSER | LIST | USERS | WHOAMI | CAT | HELP.")

#define BNDR_X_PROTO(n, ...) void bndr_cmd_##n(struct bndr_client *c);
BNDR_COMMANDS(BNDR_X_PROTO)
#undef BNDR_X_PROTO

/* shared helpers between command files */
int bndr_get_ll_or_reply(struct bndr_client *c, const struct bndr_arg *a, long long *out,
                         const char *msg);
int bndr_get_double_or_reply(struct bndr_client *c, const struct bndr_arg *a, double *out,
                             const char *msg);
int bndr_argeq(const struct bndr_arg *a, const char *lit); /* case-insensitive */
/* Parses SCAN options from argv[first..]: MATCH, COUNT, TYPE (type only if allow_type). */
struct bndr_scan_opts {
    const char *pat;
    size_t patn;
    long long count;
    int type; /* -1 any */
};
int bndr_parse_scan_opts(struct bndr_client *c, int first, int allow_type,
                         struct bndr_scan_opts *o);
int bndr_parse_cursor(struct bndr_client *c, const struct bndr_arg *a, uint64_t *out);
void bndr_scan_generic(struct bndr_client *c, struct bndr_dict *d, int cursor_arg, int kind);
/* cmd_sethash.c: ZRANDMEMBER/HRANDFIELD's "key [count [with]]" (Redis' checks; a negative count
 * bounded to 10^9); *count 0 and *has_with 0 without a count. -1: an error was replied. */
int bndr_parse_rand_count(struct bndr_client *c, const char *with, long long *count, int *has_with);
/* cmd_list.c: [B]LMPOP/[B]ZMPOP's "numkeys key... w0|w1 [COUNT n]" from argv[nk_idx]: *where 0 for
 * w0, 1 for w1; *count 1 by default. -1: an error was replied. */
int bndr_parse_mpop(struct bndr_client *c, int nk_idx, const char *w0, const char *w1,
                    long long *numkeys, int *where, long long *count);
/* cmd_list.c: 1 when a blocking command must answer at once instead of blocking (MULTI/EXEC,
 * scripts, AOF loading), 0 when it may block (or runs again for a blocked client) */
int bndr_block_denied(struct bndr_client *c);

#endif
