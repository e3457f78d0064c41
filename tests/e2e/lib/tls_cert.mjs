// A self-signed P-256 certificate for localhost and 127.0.0.1, made by the openssl CLI in `dir` (tests and the TLS
// benchmark): `name` goes into the file names and the subject's O, so several certificates can share a folder.
// Returns { certFile, keyFile, pem } (pem: the certificate, to trust as the CA).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export function testCertificate(dir, name = 'test') {
    const certFile = path.join(dir, `${name}.cert.pem`);
    const keyFile = path.join(dir, `${name}.key.pem`);
    // prettier-ignore
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-days', '2', '-subj', `/CN=localhost/O=${name}`, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
    return { certFile, keyFile, pem: readFileSync(certFile, 'utf8') };
}
