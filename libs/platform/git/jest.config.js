module.exports = require('../../../jest.preset.js')('libs/platform/git', 'git');
