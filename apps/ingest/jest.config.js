module.exports = require('../../jest.preset.js')('apps/ingest', 'ingest');
