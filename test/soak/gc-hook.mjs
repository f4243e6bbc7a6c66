// Loaded into the server by the soak only (`node --import`): on SIGUSR2 it runs full garbage
// collections and prints a marker. The soak then measures resident memory with no garbage in it,
// so the growth check compares live memory with live memory; without it V8 grows and shrinks its
// heap by tens of MiB as it sees fit, and two samples a minute apart differ by that much.
/* global process */
import v8 from "node:v8";
import vm from "node:vm";

v8.setFlagsFromString("--expose-gc");
const collectGarbage = vm.runInNewContext("gc");
let collections = 0;
process.on("SIGUSR2", () => {
  collectGarbage();
  collectGarbage(); // what the first one's finalizers let go
  collections += 1;
  process.stderr.write(`soak-gc ${collections}\n`);
});
