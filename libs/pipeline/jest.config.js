module.exports = require('../../jest.preset.js')('libs/pipeline', 'pipeline');
