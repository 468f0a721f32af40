import type { Scope } from './arn.js';

/**
 * Who is calling, and where: the account comes from the access key, the region from the
 * signature's credential scope.
 */
export interface RequestContext extends Scope {
  accessKeyId: string;
  requestId: string;
  /** The caller's ARN, as error messages name it. */
  principalArn: string;
  /** Whether the caller's policies allow `action` on `resource` (an IAM action name). */
  allows(action: string, resource: string): boolean;
}
