// An EIP-1193 wallet for the browser tests, added with Playwright's add_init_script: it
// forwards every request to Anvil, whose development accounts are unlocked, so
// eth_sendTransaction signs there with that account's key. `__WALLET__` is replaced with
// {rpc, account, chainId} before the script is added.
(() => {
  const wallet = __WALLET__;
  const listeners = {};
  let chainId = wallet.chainId;
  let id = 0;
  const emit = (event, value) => (listeners[event] || []).forEach((fn) => fn(value));
  window.ethereum = {
    isTestWallet: true,
    on(event, fn) {
      (listeners[event] ||= []).push(fn);
    },
    removeListener(event, fn) {
      listeners[event] = (listeners[event] || []).filter((f) => f !== fn);
    },
    async request({ method, params }) {
      if (method === "eth_requestAccounts" || method === "eth_accounts") return [wallet.account];
      if (method === "eth_chainId") return `0x${chainId.toString(16)}`;
      if (method === "wallet_switchEthereumChain") {
        chainId = Number.parseInt(params[0].chainId, 16);
        emit("chainChanged", params[0].chainId);
        return null;
      }
      if (chainId !== wallet.nodeChainId) {
        throw Object.assign(new Error(`the test wallet is on chain ${chainId}`), { code: 4901 });
      }
      const response = await fetch(wallet.rpc, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params: params ?? [] }),
      });
      const body = await response.json();
      if (body.error) throw Object.assign(new Error(body.error.message), body.error);
      return body.result;
    },
  };
})();
