const assert = require('node:assert');
const { greet } = require('./greet');
for (const name of ['Kiln', 'world', 'CI']) {
  assert.strictEqual(greet(name), `Hello, ${name}!`);
  console.log(`ok - greet(${JSON.stringify(name)})`);
}
console.log('3 passed, 0 failed');
