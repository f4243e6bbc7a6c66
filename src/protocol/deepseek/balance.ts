/**
 * `GET /user/balance` in DeepSeek's shape. Until accounts and quotas exist, a self-hosted server
 * has no balance to run out of: it answers available, with a nominal unlimited figure that
 * clients comparing against zero treat as plenty.
 */
export function unlimitedBalance() {
  return {
    is_available: true,
    balance_infos: [
      {
        currency: "CNY",
        total_balance: "999999999.00",
        granted_balance: "0.00",
        topped_up_balance: "999999999.00",
      },
    ],
  };
}
