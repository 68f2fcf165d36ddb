// Signing keys made in the browser with WebCrypto: ECDSA P-256. Only the public key (SPKI PEM)
// is sent to Keyward; the private key (PKCS#8 PEM) is offered as a download and never leaves
// the browser.

function pem(label, buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  const base64 = btoa(binary).replace(/.{1,64}/g, "$&\n");
  return `-----BEGIN ${label}-----\n${base64}-----END ${label}-----\n`;
}

export async function generateSigningKey() {
  if (!window.crypto || !window.crypto.subtle) {
    throw new Error("This browser cannot make keys here: WebCrypto needs HTTPS (or localhost). Paste a public key instead.");
  }
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const [spki, pkcs8] = await Promise.all([
    crypto.subtle.exportKey("spki", pair.publicKey),
    crypto.subtle.exportKey("pkcs8", pair.privateKey),
  ]);
  return { publicPem: pem("PUBLIC KEY", spki), privatePem: pem("PRIVATE KEY", pkcs8) };
}
