import { mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { pino } from 'pino';
import { CompactEncrypt, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { AccessControl } from '../../src/auth/access-control.js';
import { grpcRequirement, httpRequirement, scopeRefusalFor } from '../../src/auth/access.js';
import { generateApiKey, hashApiKey, parseApiKeys } from '../../src/auth/api-keys.js';
import { AuthFailure, bearerChallenge, bearerToken } from '../../src/auth/bearer.js';
import { JwtVerifier, readJwks } from '../../src/auth/jwt.js';
import { QuotaLimiter } from '../../src/auth/quota.js';
import { waitFor } from '../../src/dev/wait-for.js';
import { exposureWarnings, tlsProtection, tokenProtection } from '../../src/server/exposure-warning.js';
import { OcrError } from '../../src/shared/errors.js';

/** The refusal a promise rejects with; fails the test if it resolves. */
async function refusal(promise: Promise<unknown>): Promise<AuthFailure> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(AuthFailure);
    return err as AuthFailure;
  }
  throw new Error('expected a refusal');
}

function thrown(fn: () => unknown): AuthFailure {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(AuthFailure);
    return err as AuthFailure;
  }
  throw new Error('expected a refusal');
}

describe('bearer tokens: the authorization value', () => {
  it('takes one Bearer token, whatever the scheme case, trailing spaces dropped', () => {
    expect(bearerToken(['Bearer abc.DEF-_~+/=='])).to.equal('abc.DEF-_~+/==');
    expect(bearerToken(['bearer abc  '])).to.equal('abc');
    expect(bearerToken(['BEARER  abc'])).to.equal('abc');
  });

  const secret = 'ocr_s3cr3t-value';
  const cases: [string, unknown[], RegExp][] = [
    ['missing', [], /^no token/],
    ['empty', [''], /not a bearer token/],
    ['the scheme alone', ['Bearer'], /without a token/],
    ['the scheme and a space', ['Bearer '], /without a token/],
    ['two tokens in one value', [`Bearer ${secret} ${secret}`], /more than one word/],
    ['two values', [`Bearer ${secret}`, `Bearer ${secret}`], /2 authorization values/],
    // As HTTP joins repeated headers, and a gateway forwards them over HTTP/2, where Node sends authorization once.
    ['two values joined', [`Bearer ${secret}, Bearer ${secret}`], /2 authorization values/],
    ['basic auth', [`Basic ${Buffer.from(`user:${secret}`).toString('base64')}`], /not a bearer token \(the scheme is Basic\)/],
    ['a token without its scheme', [secret], /not a bearer token;/],
    // "Bearer" + token, a tab in place of the space, and the tab as gRPC metadata carries it.
    ...['Bearer', 'Bearer\t', 'Bearer?'].map((joined): [string, unknown[], RegExp] => [
      `${JSON.stringify(joined)} joined to the token`,
      [`${joined}${secret}`],
      /^malformed authorization value: no space after "Bearer"; send the scheme and the token separated by one space/,
    ]),
    ['garbage after Bearer', [`Bearer ${secret}\u0000<>"`], /characters no bearer token has/],
    ['non-ASCII', [`Bearer ${secret}é中`], /characters no bearer token has/],
    ['very long', [`Bearer ${'a'.repeat(100_000)}`], /longer than 8192/],
    ['binary metadata', [Buffer.from(secret)], /binary/],
  ];
  for (const [what, values, message] of cases) {
    it(`refuses ${what}, UNAUTHENTICATED, saying why without the token`, () => {
      const failure = thrown(() => bearerToken(values));
      expect(failure.code).to.equal('UNAUTHENTICATED');
      expect(failure.message).to.match(message);
      expect(failure.message).not.to.include('s3cr3t');
      expect(bearerChallenge(failure)).not.to.include('s3cr3t');
      expect(bearerChallenge(failure)).to.match(/^Bearer realm="ocr"/);
    });
  }
});

describe('API key file', () => {
  it('reads entries, and a key is found by its hash alone', async () => {
    const key = generateApiKey();
    expect(key).to.match(/^ocr_[A-Za-z0-9_-]{43}$/);
    const entries = parseApiKeys(
      JSON.stringify([{ name: 'billing', hash: hashApiKey(key), scopes: ['ocr:read'], quota: { rps: 5, burst: 10, concurrent: 2 } }]),
      'keys.json',
    );
    expect(entries[0]).to.deep.equal({
      name: 'billing',
      hash: hashApiKey(key),
      scopes: ['ocr:read'],
      quota: { rps: 5, burst: 10, concurrent: 2 },
    });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'keys-'));
    const file = path.join(dir, 'keys.json');
    writeFileSync(file, JSON.stringify(entries));
    const access = new AccessControl({ auth: { apiKeysFile: file } });
    try {
      const { caller } = await access.admit(
        { authorization: [`Bearer ${key}`], fallback: () => 'addr:x' },
        grpcRequirement('/ocr.v1.OcrService/Recognize', true),
      );
      expect(caller.identity).to.equal('key:billing');
      expect(
        (await refusal(access.admit({ authorization: [`Bearer ${key}x`], fallback: () => 'addr:x' }, httpRequirement('/api/ocr', true))))
          .message,
      ).to.match(/^unknown API key/);
    } finally {
      access.close();
    }
  });

  it('keeps the last good key file, and runs on, while the file cannot be looked at (a link to itself), and takes it once it can', async () => {
    const key = generateApiKey();
    const added = generateApiKey();
    const entry = (name: string, k: string): object => ({ name, hash: hashApiKey(k), scopes: ['ocr:read'] });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'keys-'));
    const file = path.join(dir, 'keys.json');
    writeFileSync(file, JSON.stringify([entry('billing', key)]));
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const access = new AccessControl({ auth: { apiKeysFile: file, reloadPollMs: 50 } }, logger);
    const need = grpcRequirement('/ocr.v1.OcrService/Recognize', true);
    const identity = async (k: string): Promise<string> =>
      (await access.admit({ authorization: [`Bearer ${k}`], fallback: () => 'x' }, need)).caller.identity;
    try {
      // stat fails with ELOOP, where a server of another user meets EACCES once the directory's mode changes.
      rmSync(file);
      symlinkSync(file, file);
      await waitFor(() => lines.some((l) => l.includes('cannot reload') && l.includes('ELOOP')), 5000, 'the key file to be refused');
      expect(await identity(key)).to.equal('key:billing');
      const restored = path.join(dir, 'restored.json');
      writeFileSync(restored, JSON.stringify([entry('billing', key), entry('batch', added)]));
      renameSync(restored, file);
      await waitFor(() => identity(added).then((who) => who === 'key:batch'), 5000, 'the restored key file to be taken');
    } finally {
      access.close();
    }
  });

  it('quotes no part of a key written into the key file, whole or in a broken entry, and says what the file should hold', () => {
    const key = generateApiKey();
    const entry = JSON.stringify({ name: 'billing', hash: hashApiKey(key), scopes: ['ocr:read'] });
    // What `ocr api-key create > keys.json` writes: the key, then its entry.
    const redirected = (() => parseApiKeys(`${key}\n${entry}\n`, 'keys.json')) as () => unknown;
    expect(redirected).to.throw(/^keys\.json: it holds an API key itself, .*remove the key from the file, or make a new one$/);
    // The key pasted, unquoted, as an entry's hash: JSON.parse quotes the text where it stopped.
    for (const text of [`${key}\n${entry}\n`, `[{"name": "billing", "hash": ${key}, "scopes": ["ocr:read"]}]`]) {
      let message = '';
      try {
        parseApiKeys(text, 'keys.json');
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message, text).to.match(/^keys\.json: /);
      for (const part of [key.slice(0, 10), key.slice(-8), key.slice(4, 10)]) expect(message, text).not.to.include(part);
    }
  });

  const bad: [string, unknown, RegExp][] = [
    ['not a list', { name: 'a' }, /JSON list/],
    ['a plaintext key', [{ name: 'a', hash: generateApiKey(), scopes: ['ocr:read'] }], /"hash" must be "sha256:"/],
    ['an unknown scope', [{ name: 'a', hash: hashApiKey('x'), scopes: ['ocr:write'] }], /"scopes" must be/],
    ['no scopes', [{ name: 'a', hash: hashApiKey('x'), scopes: [] }], /"scopes" must be/],
    [
      'a name twice',
      [
        { name: 'a', hash: hashApiKey('x'), scopes: ['ocr:read'] },
        { name: 'a', hash: hashApiKey('y'), scopes: ['ocr:read'] },
      ],
      /used twice/,
    ],
    ['a bad quota', [{ name: 'a', hash: hashApiKey('x'), scopes: ['ocr:read'], quota: { rps: -1 } }], /quota.rps/],
    ['an unknown field', [{ name: 'a', hash: hashApiKey('x'), scopes: ['ocr:read'], key: 'plain' }], /unknown field key/],
  ];
  for (const [what, data, message] of bad) {
    it(`refuses a file with ${what}`, () => {
      expect(() => parseApiKeys(JSON.stringify(data), 'keys.json')).to.throw(message);
    });
  }
});

describe('JWT verification', function () {
  this.timeout(20_000);
  const issuer = 'https://idp.example';
  const audience = 'ocr-service';
  let dir: string;
  let jwksFile: string;
  let keys: Record<'RS256' | 'ES256' | 'EdDSA' | 'other', CryptoKey>;
  let verifier: JwtVerifier;
  /** The set as first written: the "follows the JWKS file" test replaces the file. */
  let jwks: { keys: JWK[] };

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'jwks-'));
    jwksFile = path.join(dir, 'jwks.json');
    const pairs = {
      RS256: await generateKeyPair('RS256'),
      ES256: await generateKeyPair('ES256'),
      EdDSA: await generateKeyPair('EdDSA'),
      other: await generateKeyPair('ES256'),
    };
    keys = { RS256: pairs.RS256.privateKey, ES256: pairs.ES256.privateKey, EdDSA: pairs.EdDSA.privateKey, other: pairs.other.privateKey };
    jwks = {
      keys: await Promise.all(
        (['RS256', 'ES256', 'EdDSA'] as const).map(async (alg) => ({ ...(await exportJWK(pairs[alg].publicKey)), kid: alg, alg })),
      ),
    };
    writeFileSync(jwksFile, JSON.stringify(jwks));
    verifier = new JwtVerifier({ jwksFile, issuer, audience, clockSkewS: 30 });
  });

  const sign = (
    alg: 'RS256' | 'ES256' | 'EdDSA',
    claims: Record<string, unknown> = {},
    opts: { key?: CryptoKey; kid?: string; exp?: number | string; nbf?: number; iss?: string; aud?: string } = {},
  ): Promise<string> => {
    const jwt = new SignJWT({ scope: 'ocr:read', ...claims })
      .setProtectedHeader({ alg, kid: opts.kid ?? alg })
      .setIssuer(opts.iss ?? issuer)
      .setAudience(opts.aud ?? audience)
      .setSubject('svc-a')
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? '5m');
    if (opts.nbf !== undefined) jwt.setNotBefore(opts.nbf);
    return jwt.sign(opts.key ?? keys[alg]);
  };
  const now = (): number => Math.floor(Date.now() / 1000);

  for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
    it(`takes a valid ${alg} token, its subject and scopes`, async () => {
      expect(await verifier.verify(await sign(alg))).to.deep.equal({ subject: 'svc-a', scopes: ['ocr:read'] });
    });
  }

  it('reads scopes from scp too, as a list', async () => {
    expect((await verifier.verify(await sign('ES256', { scope: undefined, scp: ['ocr:read', 'ocr:admin'] }))).scopes).to.deep.equal([
      'ocr:read',
      'ocr:admin',
    ]);
  });

  it('refuses an expired token, saying when it expired; within the skew it still passes', async () => {
    const exp = now() - 120;
    const failure = await refusal(verifier.verify(await sign('ES256', {}, { exp })));
    expect(failure.message).to.equal(`the token expired at ${new Date(exp * 1000).toISOString()}`);
    await verifier.verify(await sign('ES256', {}, { exp: now() - 10 }));
  });

  it('refuses a token not yet valid; within the skew it passes', async () => {
    expect((await refusal(verifier.verify(await sign('ES256', {}, { nbf: now() + 600 })))).message).to.match(
      /^the token is not yet valid: not before /,
    );
    await verifier.verify(await sign('ES256', {}, { nbf: now() + 10 }));
  });

  it('refuses the wrong audience and the wrong issuer, naming what the token carries', async () => {
    expect((await refusal(verifier.verify(await sign('ES256', {}, { aud: 'other' })))).message).to.equal(
      'wrong audience: the token is for other, not ocr-service',
    );
    expect((await refusal(verifier.verify(await sign('ES256', {}, { iss: 'https://evil.example' })))).message).to.equal(
      'wrong issuer: the token is from https://evil.example; this server takes tokens of https://idp.example',
    );
  });

  it('says when a slash at the end is all that tells the issuers apart, as between identity providers and their settings', async () => {
    expect((await refusal(verifier.verify(await sign('ES256', {}, { iss: 'https://idp.example/' })))).message).to.equal(
      'wrong issuer: the token is from https://idp.example/; this server takes tokens of https://idp.example (they differ by the slash at the end: give --jwt-issuer exactly as the tokens write it)',
    );
  });

  it('refuses a key not in the JWKS: unknown kid, or a known kid with another key (bad signature)', async () => {
    expect((await refusal(verifier.verify(await sign('ES256', {}, { key: keys.other, kid: 'elsewhere' })))).message).to.match(
      /^unknown key/,
    );
    expect((await refusal(verifier.verify(await sign('ES256', {}, { key: keys.other })))).message).to.match(/^bad signature/);
  });

  it('refuses HS256, "none", a token without exp and malformed ones', async () => {
    const hs = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new Uint8Array(32));
    expect((await refusal(verifier.verify(hs))).message).to.match(/algorithm is not accepted/);
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"x"}').toString('base64url')}.`;
    expect((await refusal(verifier.verify(none))).message).to.match(/algorithm is not accepted|malformed/);
    const noExp = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'ES256' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject('s')
      .sign(keys.ES256);
    expect((await refusal(verifier.verify(noExp))).message).to.equal('the token has no "exp" claim');
    expect((await refusal(verifier.verify('a.b.c'))).message).to.match(/^malformed JWT/);
  });

  it('takes a token without a kid signed by any of several keys of its algorithm, as in a rotation; refuses one signed by none', async () => {
    const current = await generateKeyPair('ES256');
    const next = await generateKeyPair('ES256');
    const rotating = path.join(dir, 'rotating.json');
    writeFileSync(rotating, JSON.stringify({ keys: [await exportJWK(current.publicKey), await exportJWK(next.publicKey)] }));
    const during = new JwtVerifier({ jwksFile: rotating, issuer, audience, clockSkewS: 30 });
    const withoutKid = (key: CryptoKey): Promise<string> =>
      new SignJWT({ scope: 'ocr:read' })
        .setProtectedHeader({ alg: 'ES256' })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject('svc-a')
        .setExpirationTime('5m')
        .sign(key);
    for (const pair of [current, next]) {
      expect(await during.verify(await withoutKid(pair.privateKey))).to.deep.equal({ subject: 'svc-a', scopes: ['ocr:read'] });
    }
    expect((await refusal(during.verify(await withoutKid(keys.other)))).message).to.match(/^bad signature/);
  });

  it('says that a time claim written as a string is no number, rather than that the token is not valid yet', async () => {
    for (const claim of ['exp', 'nbf', 'iat']) {
      // Signed by a key of the set: the claims are read only once the signature holds.
      const claims: Record<string, unknown> = { scope: 'ocr:read', sub: 'svc-a', exp: now() + 300, [claim]: String(now()) };
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid: 'ES256' })
        .setIssuer(issuer)
        .setAudience(audience)
        .sign(keys.ES256);
      expect((await refusal(verifier.verify(token))).message, claim).to.equal(
        `the token's "${claim}" claim is invalid: it must be a number of seconds since 1970 (a NumericDate)`,
      );
    }
  });

  it('says that a header marking an extension critical (crit) is what is refused, not the algorithm', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'ES256', crit: ['exp-policy'], 'exp-policy': 1 })).toString('base64url');
    const claims = Buffer.from(JSON.stringify({ sub: 'svc-a', iss: issuer, aud: audience, exp: now() + 300 })).toString('base64url');
    const failure = await refusal(verifier.verify(`${header}.${claims}.AAAA`));
    expect(failure.message).to.equal(
      'the token\'s header marks as critical (crit) an extension this server does not implement: ask its issuer for a token without "crit"',
    );
    expect(failure.message).not.to.include('exp-policy');
  });

  it('refuses a subject that names no one: null, a number, a list or empty', async () => {
    for (const sub of [null, 5, ['svc-a'], '']) {
      // Claims as an identity provider might sign them, past SignJWT's types.
      const claims: Record<string, unknown> = { scope: 'ocr:read', sub };
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid: 'ES256' })
        .setIssuer(issuer)
        .setAudience(audience)
        .setExpirationTime('5m')
        .sign(keys.ES256);
      const failure = await refusal(verifier.verify(token));
      expect(failure.message, JSON.stringify(sub)).to.equal(
        'the token\'s "sub" claim is invalid: it must be a string that names the caller',
      );
      expect(failure.bearerError).to.equal('invalid_token');
    }
  });

  it("says that --jwks takes a file, not the identity provider's URL, and how to make one", () => {
    const url = 'https://idp.example/.well-known/jwks.json';
    expect(() => readJwks(url)).to.throw(
      `${url}: --jwks takes a file, not a URL (the server fetches nothing): save the identity provider's JWKS to a file (curl -fsS ${url} -o jwks.json), kept current by whatever fetches it; the server reads it again when it changes`,
    );
  });

  it('refuses a JWKS with a key that cannot verify, at start and on reload, keeping the last good set', async () => {
    const file = path.join(dir, 'jwks-reload.json');
    const good = { keys: jwks.keys.filter((k) => k.kid === 'ES256') };
    const broken = { keys: [{ ...good.keys[0], x: 'AAAA' }] };
    const tiny = { keys: [{ kty: 'RSA', kid: 'RS256', alg: 'RS256', n: 'AQAB', e: 'AQAB' }] };
    writeFileSync(file, JSON.stringify(broken));
    expect(() => readJwks(file)).to.throw(`${file}: key 1 (kid ES256) cannot verify tokens (Invalid JWK EC key): save the identity`);
    writeFileSync(file, JSON.stringify(tiny));
    expect(() => readJwks(file)).to.throw(
      `${file}: key 1 (kid RS256) is an RSA key of 17 bits; RS256 needs 2048 or more: sign with a larger key`,
    );
    writeFileSync(file, JSON.stringify(good));
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const access = new AccessControl({ auth: { jwt: { jwksFile: file, issuer, audience, clockSkewS: 30 }, reloadPollMs: 50 } }, logger);
    try {
      const need = grpcRequirement('/ocr.v1.OcrService/Recognize', true);
      writeFileSync(file, JSON.stringify(broken));
      await waitFor(() => lines.some((l) => l.includes('cannot reload')), 5000, 'the broken JWKS to be refused');
      expect(lines.join('')).to.include('key 1 (kid ES256) cannot verify tokens');
      // A token verified for the first time after the refused reload: the good set still verifies it.
      const { caller } = await access.admit({ authorization: [`Bearer ${await sign('ES256', { n: 1 })}`], fallback: () => 'x' }, need);
      expect(caller.identity).to.equal('jwt:svc-a');
    } finally {
      access.close();
    }
  });

  it('says that an encrypted JWT (JWE) cannot be read, rather than that it is an unknown API key or no JWT', async () => {
    // What Auth0 issues for a login that names no API audience: claims encrypted for the provider alone.
    const jwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify({ sub: 'svc-a' })))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .encrypt(new Uint8Array(32));
    expect(jwe.split('.')).to.have.length(5);
    const keyFile = path.join(dir, 'jwe-keys.json');
    writeFileSync(keyFile, JSON.stringify([{ name: 'reader', hash: hashApiKey(generateApiKey()), scopes: ['ocr:read'] }]));
    for (const auth of [{ jwt: { jwksFile, issuer, audience, clockSkewS: 30 } }, { apiKeysFile: keyFile }]) {
      const access = new AccessControl({ auth });
      try {
        const failure = await refusal(
          access.admit({ authorization: [`Bearer ${jwe}`], fallback: () => 'x' }, httpRequirement('/api/ocr', true)),
        );
        expect(failure.message, Object.keys(auth)[0]).to.equal(
          'the token is an encrypted JWT (JWE, five parts), which only its identity provider can read: send a signed one (three parts), as the provider issues for an API audience (an access token requested for this service)',
        );
        expect(failure.bearerError).to.equal('invalid_token');
      } finally {
        access.close();
      }
    }
  });

  it('neither takes nor remembers a token whose key leaves the set while its signature is checked', async () => {
    const leaving = await generateKeyPair('ES256');
    const file = path.join(dir, 'leaving.json');
    writeFileSync(file, JSON.stringify({ keys: [{ ...(await exportJWK(leaving.publicKey)), kid: 'leaving', alg: 'ES256' }] }));
    const during = new JwtVerifier({ jwksFile: file, issuer, audience, clockSkewS: 30 });
    // jose loaded and the key imported: the next check reads the set at once.
    await during.verify(await sign('ES256', {}, { key: leaving.privateKey, kid: 'leaving' }));
    const token = await sign('ES256', { n: 2 }, { key: leaving.privateKey, kid: 'leaving' });
    const checking = during.verify(token);
    // Microtasks only: the check has read the set, and its signature (a job of the thread pool) cannot be done yet.
    for (let turn = 0; turn < 10; turn++) await Promise.resolve();
    // The key withdrawn (compromised, say), as a reload of the file does it.
    during.setKeys({ keys: [jwks.keys.find((k) => k.kid === 'ES256')!] });
    expect((await refusal(checking)).message).to.match(/^unknown key/);
    expect((await refusal(during.verify(token))).message).to.match(/^unknown key/);
  });

  it('names a few of the scopes of a token that carries hundreds but not the one needed, and how many more', async () => {
    const scope = Array.from({ length: 500 }, (_, i) => `team:${i}`).join(' ');
    const access = new AccessControl({ auth: { jwt: { jwksFile, issuer, audience, clockSkewS: 30 } } });
    try {
      const failure = await refusal(
        access.admit(
          { authorization: [`Bearer ${await sign('ES256', { scope })}`], fallback: () => 'x' },
          httpRequirement('/api/ocr', true),
        ),
      );
      expect(failure.message).to.equal(
        'missing scope ocr:read: POST /api/ocr needs it, and the token of jwt:svc-a carries team:0 team:1 team:2 team:3 team:4 team:5 team:6 team:7 and 492 more; send a token that carries ocr:read',
      );
    } finally {
      access.close();
    }
  });

  it('follows the JWKS file when it is replaced on disk', async () => {
    const rotated = await generateKeyPair('ES256');
    const access = new AccessControl({ auth: { jwt: { jwksFile, issuer, audience, clockSkewS: 30 }, reloadPollMs: 50 } });
    try {
      const token = await sign('ES256', {}, { key: rotated.privateKey, kid: 'rotated' });
      const need = grpcRequirement('/ocr.v1.OcrService/Recognize', true);
      await refusal(access.admit({ authorization: [`Bearer ${token}`], fallback: () => 'x' }, need));
      // A token of the old key, verified (and remembered) before the rotation, is refused after it.
      const old = await sign('ES256');
      await access.admit({ authorization: [`Bearer ${old}`], fallback: () => 'x' }, need);
      const next = path.join(dir, 'jwks.next');
      writeFileSync(next, JSON.stringify({ keys: [{ ...(await exportJWK(rotated.publicKey)), kid: 'rotated', alg: 'ES256' }] }));
      renameSync(next, jwksFile);
      await waitFor(
        () =>
          access.admit({ authorization: [`Bearer ${token}`], fallback: () => 'x' }, need).then(
            () => true,
            () => false,
          ),
        5000,
        'the rotated key to be taken',
      );
      expect((await refusal(access.admit({ authorization: [`Bearer ${old}`], fallback: () => 'x' }, need))).message).to.match(
        /^unknown key/,
      );
    } finally {
      access.close();
    }
  });
});

describe('scopes', () => {
  it('refuses a token without the scope the method needs: PERMISSION_DENIED naming the scope', async () => {
    const key = generateApiKey();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'keys-'));
    const file = path.join(dir, 'keys.json');
    writeFileSync(file, JSON.stringify([{ name: 'metrics', hash: hashApiKey(key), scopes: ['ocr:admin'] }]));
    const access = new AccessControl({ auth: { apiKeysFile: file } });
    try {
      const failure = await refusal(
        access.admit({ authorization: [`Bearer ${key}`], fallback: () => 'x' }, grpcRequirement('/ocr.v1.OcrService/Recognize', true)),
      );
      expect(failure.code).to.equal('PERMISSION_DENIED');
      expect(failure.message).to.equal(
        'missing scope ocr:read: Recognize needs it, and the token of key:metrics carries ocr:admin; send a token that carries ocr:read',
      );
      expect(bearerChallenge(failure)).to.include('error="insufficient_scope"').and.include('scope="ocr:read"');
      await access.admit({ authorization: [`Bearer ${key}`], fallback: () => 'x' }, httpRequirement('/metrics', true));
    } finally {
      access.close();
    }
  });

  it("words an instance's refusal for a missing scope for what a gateway's HTTP caller called, from this version's wording and the last's", () => {
    const held = 'the token of key:metrics carries ocr:admin';
    const worded = `missing scope ocr:read: POST /api/ocr needs it, and ${held}; send a token that carries ocr:read`;
    for (const message of [
      `missing scope ocr:read: Recognize needs it, and ${held}; send a token that carries ocr:read`,
      `missing scope ocr:read: Recognize needs it, and ${held}`,
    ]) {
      const failure = scopeRefusalFor(message, 'POST /api/ocr');
      expect(failure?.message, message).to.equal(worded);
      expect(failure?.scope).to.equal('ocr:read');
    }
    expect(scopeRefusalFor('no token: send the header', 'POST /api/ocr')).to.equal(null);
  });

  it('keeps health open, and information behind a token only while protected', () => {
    expect(grpcRequirement('/grpc.health.v1.Health/Check', true)).to.include({ scope: null, quota: false });
    expect(httpRequirement('/healthz', true).scope).to.equal(null);
    expect(httpRequirement('/readyz', true).scope).to.equal(null);
    expect(grpcRequirement('/ocr.v1.OcrService/GetServerInfo', true).scope).to.equal('ocr:read');
    expect(grpcRequirement('/ocr.v1.OcrService/GetServerInfo', false).scope).to.equal(null);
    expect(grpcRequirement('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', true).scope).to.equal('ocr:read');
    expect(httpRequirement('/metrics', true).scope).to.equal('ocr:admin');
    expect(httpRequirement('/metrics', false).scope).to.equal(null);
    expect(grpcRequirement('/some.New/Method', false).scope).to.equal('ocr:read');
  });
});

describe('quotas', () => {
  const over = async (promise: Promise<unknown>): Promise<OcrError> => {
    try {
      await promise;
    } catch (err) {
      expect(err).to.be.instanceOf(OcrError);
      return err as OcrError;
    }
    throw new Error('expected RESOURCE_EXHAUSTED');
  };

  it('lets a burst through, then refuses with the time until the window ends, and recovers', async () => {
    const quotas = new QuotaLimiter({ rps: 20, burst: 4 });
    for (let i = 0; i < 4; i++) (await quotas.admit('a', quotas.quotaOf(undefined)))();
    const refused = await over(quotas.admit('a', quotas.quotaOf(undefined)));
    expect(refused.code).to.equal('RESOURCE_EXHAUSTED');
    expect(refused.retryAfterMs).to.be.within(1, 200);
    expect(refused.message).to.match(/^over the quota of a: 20 calls a second, 4 at most at once; retry in \d+ ms$/);
    // Another caller is unaffected.
    (await quotas.admit('b', quotas.quotaOf(undefined)))();
    await new Promise((resolve) => setTimeout(resolve, refused.retryAfterMs! + 5));
    (await quotas.admit('a', quotas.quotaOf(undefined)))();
  });

  it('counts calls open at once, and frees a place when one ends (once, however often it is released)', async () => {
    const quotas = new QuotaLimiter({ concurrent: 2 });
    const first = await quotas.admit('a', quotas.quotaOf(undefined));
    await quotas.admit('a', quotas.quotaOf(undefined));
    expect((await over(quotas.admit('a', quotas.quotaOf(undefined)))).message).to.match(/2 calls open at once/);
    first();
    first();
    expect(quotas.openCalls('a')).to.equal(1);
    await quotas.admit('a', quotas.quotaOf(undefined));
    expect(quotas.openCalls('a')).to.equal(2);
  });

  it('counts an open information call by the key it carries, not by its address, which callers without one share', async () => {
    const key = generateApiKey();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'keys-'));
    const file = path.join(dir, 'keys.json');
    writeFileSync(file, JSON.stringify([{ name: 'dashboard', hash: hashApiKey(key), scopes: ['ocr:read'], quota: { concurrent: 5 } }]));
    // --no-protect-info, and one call open at once for every caller whose key sets no quota.
    const access = new AccessControl({ auth: { apiKeysFile: file, protectInfo: false }, quota: { concurrent: 1 } });
    try {
      const need = httpRequirement('/api/info', false);
      const anonymous = await access.admit({ authorization: [], fallback: () => 'addr:10.0.0.7' }, need);
      expect(anonymous.caller.identity).to.equal('addr:10.0.0.7');
      // A caller without a token holds its address's one place: a keyed caller at that address is not refused for it.
      const keyed = await access.admit({ authorization: [`Bearer ${key}`], fallback: () => 'addr:10.0.0.7' }, need);
      expect(keyed.caller.identity).to.equal('key:dashboard');
      // A token that does not verify leaves the call as open as one without a token.
      const unknown = await over(access.admit({ authorization: [`Bearer ${generateApiKey()}`], fallback: () => 'addr:10.0.0.7' }, need));
      expect(unknown.message).to.match(/^over the quota of addr:10\.0\.0\.7: 1 call open at once/);
      anonymous.release();
      keyed.release();
    } finally {
      access.close();
    }
  });

  it('refuses a rate whose window outlasts what the limiter can time (1000 calls a month), which it would not have enforced', () => {
    const monthly = { rps: 1000 / (30 * 86_400), burst: 1000 };
    expect(() =>
      parseApiKeys(JSON.stringify([{ name: 'a', hash: hashApiKey('x'), scopes: ['ocr:read'], quota: monthly }]), 'keys.json'),
    ).to.throw(
      "keys.json: entry 1 (a): the rate's window (burst / rps) of 30 days is longer than the 24 days a quota can span: raise rps or lower burst",
    );
    expect(() =>
      parseApiKeys(JSON.stringify([{ name: 'a', hash: hashApiKey('x'), scopes: ['ocr:read'], quota: { rps: 1e-7 } }]), 'k'),
    ).to.throw(/window \(burst \/ rps\) of 116 days/);
    // Within it, the count holds for the whole window.
    parseApiKeys(
      JSON.stringify([{ name: 'a', hash: hashApiKey('x'), scopes: ['ocr:read'], quota: { rps: 1000 / (20 * 86_400), burst: 1000 } }]),
      'k',
    );
  });

  it("refuses a key whose own rate with the defaults' burst makes such a window, at start and on reload, the last good file kept", async () => {
    const key = generateApiKey();
    const entry = (quota: object): object => ({ name: 'slow', hash: hashApiKey(key), scopes: ['ocr:read'], quota });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'keys-'));
    const file = path.join(dir, 'keys.json');
    // Alone, 0.0001 a second has a window of 10,000 s; with --quota-burst 1000, of 116 days, which the limiter forgot at once.
    writeFileSync(file, JSON.stringify([entry({ rps: 0.0001 })]));
    const defaults = { rps: 1, burst: 1000 };
    expect(() => new AccessControl({ auth: { apiKeysFile: file }, quota: defaults })).to.throw(
      `${file}: entry 1 (slow): its quota.rps of 0.0001 with the default burst of 1000 (--quota-burst) makes a window (burst / rps) of 116 days, longer than the 24 days a quota can span: give the entry a quota.burst of its own, or raise its quota.rps`,
    );
    // A burst of its own, or no default burst, leaves the key's window its own.
    new AccessControl({ auth: { apiKeysFile: file }, quota: { rps: 1 } }).close();
    writeFileSync(file, JSON.stringify([entry({ rps: 0.0001, burst: 1 })]));
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const access = new AccessControl({ auth: { apiKeysFile: file, reloadPollMs: 50 }, quota: defaults }, logger);
    const need = httpRequirement('/api/ocr', true);
    try {
      const admitted = await access.admit({ authorization: [`Bearer ${key}`], fallback: () => 'x' }, need);
      admitted.release();
      const rewritten = path.join(dir, 'rewritten.json');
      writeFileSync(rewritten, JSON.stringify([entry({ rps: 0.0001 })]));
      renameSync(rewritten, file);
      await waitFor(() => lines.some((l) => l.includes('cannot reload') && l.includes('116 days')), 5000, 'the key file to be refused');
      // The last good file's quota holds: one call, then none for 10,000 s.
      expect((await over(access.admit({ authorization: [`Bearer ${key}`], fallback: () => 'x' }, need))).message).to.match(
        /^over the quota of key:slow: 0 calls a second, 1 at most at once/,
      );
    } finally {
      access.close();
    }
  });

  it("takes a key's own quota over the defaults, field by field", () => {
    const quotas = new QuotaLimiter({ rps: 10, concurrent: 4 });
    expect(quotas.quotaOf({ rps: 100 })).to.deep.equal({ rps: 100, concurrent: 4 });
  });
});

describe('safe defaults', () => {
  it('warns on a reachable address without tokens, naming the flags; quiet on loopback or with tokens', () => {
    const warnings = exposureWarnings('0.0.0.0', [tlsProtection(true), tokenProtection(false)]);
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.match(/^serving 0\.0\.0\.0, which other machines can reach, without tokens: /);
    expect(warnings[0]).to.include('--api-keys FILE').and.include('ocr api-key create').and.include('--jwks FILE');
    expect(exposureWarnings('127.0.0.1', [tokenProtection(false)])).to.deep.equal([]);
    expect(exposureWarnings('10.1.2.3', [tokenProtection(true)])).to.deep.equal([]);
  });
});
