// SPDX-License-Identifier: ISC
// serverjs's download-token scheme, as DESIGN.md section 3 has it, run by
// node's crypto: what a serverjs instance seals and opens.
//
//   node serverjs_token.js encrypt KEY TEXT [TTL_MS]
//   node serverjs_token.js decrypt KEY TOKEN
'use strict';
const crypto = require('crypto');

const [, , cmd, secret, arg, ttl] = process.argv;
const key = crypto.scryptSync(secret, 'salt', 32);

if (cmd === 'encrypt') {
  const iv = crypto.randomBytes(16);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
  const payload = JSON.stringify({
    data: arg,
    exp: Date.now() + (ttl === undefined ? 360000 : Number(ttl)),
  });
  const enc = Buffer.concat([cipher.update(payload, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  process.stdout.write(Buffer.concat([iv, tag, enc]).toString('base64url'));
} else if (cmd === 'decrypt') {
  const buf = Buffer.from(arg, 'base64url');
  const decipher = crypto.createDecipheriv('aes-256-gcm', key,
    buf.subarray(0, 16));
  decipher.setAuthTag(buf.subarray(16, 32));
  const plain = Buffer.concat([decipher.update(buf.subarray(32)),
    decipher.final()]).toString('utf8');
  const obj = JSON.parse(plain);
  if (obj.exp < Date.now()) {
    process.stderr.write('expired\n');
    process.exit(2);
  }
  process.stdout.write(obj.data);
} else {
  process.stderr.write('usage: encrypt|decrypt KEY TEXT\n');
  process.exit(1);
}
