/**
 * `GET /user/balance` in DeepSeek's shape. A self-hosted server has no money to count: a key
 * without a token quota is available with a nominal unlimited figure (clients compare against
 * zero); a key with one reports `is_available` from what is left and the quota itself in
 * `token_quota` (our addition), with the amounts at zero once it is spent.
 */
export interface BalanceSource {
  quotaTokens: number | null;
  usedTokens: number;
  quotaRequests: number | null;
  usedRequests: number;
}

const UNLIMITED = "999999999.00";

export function balance(key: BalanceSource | undefined) {
  const remainingTokens = key?.quotaTokens == null ? null : Math.max(0, key.quotaTokens - key.usedTokens);
  const remainingRequests =
    key?.quotaRequests == null ? null : Math.max(0, key.quotaRequests - key.usedRequests);
  const available = remainingTokens !== 0 && remainingRequests !== 0;
  const amount = available ? UNLIMITED : "0.00";
  return {
    is_available: available,
    balance_infos: [
      { currency: "CNY", total_balance: amount, granted_balance: "0.00", topped_up_balance: amount },
    ],
    ...(key && (key.quotaTokens !== null || key.quotaRequests !== null)
      ? {
          token_quota: {
            total_tokens: key.quotaTokens,
            used_tokens: key.usedTokens,
            remaining_tokens: remainingTokens,
            total_requests: key.quotaRequests,
            used_requests: key.usedRequests,
            remaining_requests: remainingRequests,
          },
        }
      : {}),
  };
}
