module.exports = require('../../jest.preset.js')('apps/scheduler', 'scheduler');
