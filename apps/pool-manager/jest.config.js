module.exports = require('../../jest.preset.js')('apps/pool-manager', 'pool-manager');
