// The demo project's code: one function and its test.
exports.greet = (name) => `Hello, ${name}!`;
