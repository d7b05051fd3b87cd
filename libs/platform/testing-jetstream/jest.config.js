module.exports = require('../../../jest.preset.js')('libs/platform/testing-jetstream', 'testing-jetstream');
