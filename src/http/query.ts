import { XMLBuilder } from 'fast-xml-parser';

import { STS_XML_NAMESPACE } from '../api/sts/index.js';
import type { ServiceError } from '../domain/errors.js';

const xml = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_' });

/**
 * The query protocol's answers (STS): XML in the service's namespace, the result under
 * `<Action>Result`, the request id under `ResponseMetadata`.
 */
export function queryResponse(action: string, result: object, requestId: string): string {
  return xml.build({
    [`${action}Response`]: {
      '@_xmlns': STS_XML_NAMESPACE,
      [`${action}Result`]: result,
      ResponseMetadata: { RequestId: requestId },
    },
  }) as string;
}

/**
 * The query protocol's error: `Sender` for the caller's faults, `Receiver` for ours. The SDKs
 * read the code from `Error/Code`.
 */
export function queryError(error: ServiceError, requestId: string): string {
  return xml.build({
    ErrorResponse: {
      '@_xmlns': STS_XML_NAMESPACE,
      Error: {
        Type: error.statusCode >= 500 ? 'Receiver' : 'Sender',
        Code: error.type,
        Message: error.message,
      },
      RequestId: requestId,
    },
  }) as string;
}
