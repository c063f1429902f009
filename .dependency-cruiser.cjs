/**
 * The layers the build checks (`npm run lint:layers`, a step of `npm test`): which folder may
 * import which, and no import cycles anywhere, type-only imports included. The same rules are
 * written for people once, in the README's layout table ("allowed imports"), and for the
 * agent's rooms in agent/<room>/README.md: change them together.
 *
 * Ground floor: protocol/ <- seams/ <- common/. dataplane/ (what the origin and agents both run
 * on the data path) sits on the ground floor. control/, agent/, origin/ sit on it too and never
 * import each other; cli/ composes the programs, firmware/ packages cli/. tools/ is what the
 * tests, benchmarks and scripts share, so those three never import each other.
 */

const GROUND = ["protocol", "seams", "common"];
const PROGRAMS = ["control", "agent", "origin"];

/** Folder -> the folders it may import besides itself (local imports only; npm and node: are free). */
const ALLOWED = {
  protocol: [],
  seams: ["protocol"],
  common: ["protocol", "seams"],
  dataplane: GROUND,
  control: GROUND,
  agent: [...GROUND, "dataplane"],
  origin: [...GROUND, "dataplane"],
  sim: [...GROUND, "control"],
  cli: [...GROUND, "dataplane", ...PROGRAMS],
  firmware: [...GROUND, "dataplane", ...PROGRAMS, "cli"],
  tools: [...GROUND, "dataplane", ...PROGRAMS, "cli", "sim", "firmware"],
  test: [...GROUND, "dataplane", ...PROGRAMS, "cli", "sim", "firmware", "tools"],
  bench: [...GROUND, "dataplane", ...PROGRAMS, "cli", "sim", "tools"],
  scripts: [...GROUND, "dataplane", ...PROGRAMS, "cli", "sim", "tools"],
};

/**
 * The agent's rooms (agent/<room>/README.md): a room imports the ground floor, dataplane/, the
 * rooms listed here and agent/errors.ts (the agent's typed errors, a leaf), never the
 * composition root (agent/*.ts: agent.ts, main.ts, config.ts, status.ts, ...).
 */
const AGENT_ROOMS = {
  session: [],
  relay: [],
  store: [],
  lan: ["store"],
  vod: ["store", "relay"],
};

const layerRules = Object.entries(ALLOWED).map(([folder, allowed]) => ({
  name: `layer-${folder}`,
  comment: `${folder}/ may import ${allowed.length === 0 ? "nothing of ours" : allowed.join(", ")} (README, "Code layout")`,
  severity: "error",
  from: { path: `^${folder}/` },
  to: { dependencyTypes: ["local"], pathNot: `^(${[folder, ...allowed].join("|")})/` },
}));

const roomRules = Object.entries(AGENT_ROOMS).map(([room, allowed]) => ({
  name: `agent-room-${room}`,
  comment: `agent/${room}/ may import ${allowed.length === 0 ? "no other room" : allowed.map((r) => `agent/${r}/`).join(", ")} and agent/errors.ts, never the composition root (agent/${room}/README.md)`,
  severity: "error",
  from: { path: `^agent/${room}/` },
  to: {
    path: "^agent/",
    pathNot: `^agent/(${[room, ...allowed].join("|")})/|^agent/errors\\.ts$`,
  },
}));

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "No import cycles anywhere, type-only imports included (tsPreCompilationDeps).",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    ...layerRules,
    ...roomRules,
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(dist|node_modules|images/out|firmware/cache|assets)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js"] },
  },
};
