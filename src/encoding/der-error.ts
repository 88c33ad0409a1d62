// The one error the DER reader throws: malformed input, with the stable code ERR_ENCODING_DER.
// Rooms above catch it and answer with their own code (ERR_SVID_CERT_PARSE, ERR_CA_CSR_INVALID, ...).
import { EncodingError } from '../errors.js';

export class DerError extends EncodingError {
  constructor(message: string) {
    super('ERR_ENCODING_DER', message);
  }
}
