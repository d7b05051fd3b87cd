module.exports = require('../../../jest.preset.js')('libs/platform/telemetry', 'telemetry');
