let i = 0; const end = performance.now() + 6000;
await Promise.all(Array.from({ length: 16 }, async () => { while (performance.now() < end) { const r = await fetch(`http://127.0.0.1:3999/clicks`, { method: 'POST', body: JSON.stringify({ sessionId: `sess-${i++}-abcdef`, clickref: 'X1' }), headers: { 'content-type': 'application/json', 'user-agent': 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148' } }); await r.arrayBuffer(); } }));
console.log('requests', i, 'rps', i / 6);
