// The whole association suite, with the secrets and keys in moto's server (a third-party
// Secrets Manager and KMS) and the service reading them there through its `aws` source.
import { useSecretSource } from '../support/secret-source.js';

useSecretSource('moto');
await import('../compat/scram-secrets.test.js');
