module.exports = require('../../jest.preset.js')('apps/log-store', 'log-store');
