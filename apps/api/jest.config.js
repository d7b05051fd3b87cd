module.exports = require('../../jest.preset.js')('apps/api', 'api');
