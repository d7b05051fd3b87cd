module.exports = require('../../../jest.preset.js')('libs/platform/event-store', 'event-store');
