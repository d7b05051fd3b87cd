module.exports = require('../../jest.preset.js')('apps/cli', 'cli');
