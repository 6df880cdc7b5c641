// Answers Merkle-tree requests with the reference implementation, @openzeppelin/merkle-tree.
//
// Reads one JSON array of requests on stdin and prints one JSON array of answers, in order.
// A request that throws is answered {"error": message}, so a test can check a refusal.
//
//   {"op": "of", "values": [...], "encoding": [...], "sortLeaves": true, "multi": [[0, 2]]}
//   {"op": "load", "dump": {...}, "multi": [...]}
//       -> {"root", "proofs", "multi", "dump", "render", "leafHashes"}
//   {"op": "verify", "root", "encoding", "value", "proof"}      -> {"ok": bool}
//   {"op": "verifyMulti", "root", "encoding", "multiproof"}     -> {"ok": bool}
'use strict';

const { StandardMerkleTree } = require('@openzeppelin/merkle-tree');

function describe(tree, multi) {
  const proofs = [];
  const leafHashes = [];
  for (const [i, value] of tree.entries()) {
    proofs.push(tree.getProof(i));
    leafHashes.push(tree.leafHash(value));
  }
  return {
    root: tree.root,
    proofs,
    leafHashes,
    multi: (multi ?? []).map(indices => tree.getMultiProof(indices)),
    dump: tree.dump(),
    render: tree.render(),
  };
}

function answer(request) {
  switch (request.op) {
    case 'of':
      return describe(
        StandardMerkleTree.of(request.values, request.encoding, { sortLeaves: request.sortLeaves ?? true }),
        request.multi,
      );
    case 'load':
      return describe(StandardMerkleTree.load(request.dump), request.multi);
    case 'verify':
      return { ok: StandardMerkleTree.verify(request.root, request.encoding, request.value, request.proof) };
    case 'verifyMulti':
      return { ok: StandardMerkleTree.verifyMultiProof(request.root, request.encoding, request.multiproof) };
    default:
      throw new Error(`unknown op ${request.op}`);
  }
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', chunk => (input += chunk));
process.stdin.on('end', () => {
  const answers = JSON.parse(input).map(request => {
    try {
      return answer(request);
    } catch (error) {
      return { error: String(error.message ?? error) };
    }
  });
  // Values pass through as given (JSON forms), so no bigint ever reaches stringify.
  process.stdout.write(JSON.stringify(answers));
});
