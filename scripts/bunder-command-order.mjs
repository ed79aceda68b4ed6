// One order for Redis' command metadata: COMMAND INFO's subcommands (the 10th field) and COMMAND
// DOCS' "subcommands" map, by name, recursively. Redis lists them in its dict order, seeded at
// random per process, so two redis-servers differ; scripts/gen-bunder-commands.mjs stores this
// order and tests/integration/bunder_command.test.mjs compares in it. Values are RESP trees
// {t: type char, v: string | child array}.

export function sortInfo(info) {
  if (Array.isArray(info.v) && info.v[9] && Array.isArray(info.v[9].v)) {
    info.v[9].v.forEach(sortInfo);
    info.v[9].v.sort((a, b) => (a.v[0].v < b.v[0].v ? -1 : 1));
  }
  return info;
}

export function sortDocs(doc) {
  for (let i = 0; Array.isArray(doc.v) && i < doc.v.length; i += 2) {
    if (doc.v[i].v !== 'subcommands') continue;
    const m = doc.v[i + 1];
    const pairs = [];
    for (let j = 0; j < m.v.length; j += 2) pairs.push([m.v[j], sortDocs(m.v[j + 1])]);
    pairs.sort((a, b) => (a[0].v < b[0].v ? -1 : 1));
    m.v = pairs.flat();
  }
  return doc;
}
