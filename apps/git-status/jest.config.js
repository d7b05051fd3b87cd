module.exports = require('../../jest.preset.js')('apps/git-status', 'git-status');
