/** X25519 transport keys in the form Freenet reads: 32 raw bytes as 64 lowercase hex. */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';

export interface KeyPairHex {
  secretHex: string;
  publicHex: string;
}

// PKCS#8 DER header for an X25519 private key; the 32 secret bytes follow it.
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

const jwkToHex = (value: string | undefined): string => {
  const bytes = Buffer.from(value ?? '', 'base64url');
  if (bytes.length !== 32) throw new Error('X25519 key is not 32 bytes');
  return bytes.toString('hex');
};

export function generateX25519(): KeyPairHex {
  const { privateKey } = generateKeyPairSync('x25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return { secretHex: jwkToHex(jwk.d), publicHex: jwkToHex(jwk.x) };
}

export function publicFromSecret(secretHex: string): string {
  if (!/^[0-9a-f]{64}$/.test(secretHex)) throw new Error('secret must be 64 lowercase hex characters');
  const der = Buffer.concat([X25519_PKCS8_PREFIX, Buffer.from(secretHex, 'hex')]);
  const publicKey = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
  return jwkToHex(publicKey.export({ format: 'jwk' }).x);
}
