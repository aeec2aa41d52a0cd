import { describe, expect, it } from 'vitest';
import { GroupCounters } from '../../src/sparse/group-counters.js';

describe('GroupCounters', () => {
  it('counts per group, the clock is the largest count, state round-trips in start order', () => {
    const c = new GroupCounters();
    expect(c.max()).toBe(0);
    c.start('actor');
    c.start('critic');
    expect(c.increment('critic')).toBe(1);
    expect(c.increment('critic')).toBe(2);
    expect(c.increment('actor')).toBe(1);
    expect([c.get('actor'), c.get('critic'), c.get('unknown')]).toEqual([1, 2, 0]);
    expect(c.max()).toBe(2);
    expect(Object.keys(c.toJSON())).toEqual(['actor', 'critic']);
    expect(JSON.stringify(c)).toBe('{"actor":1,"critic":2}');
    const d = new GroupCounters();
    d.start('actor');
    d.start('critic');
    d.load(c.toJSON());
    expect(d.toJSON()).toEqual({ actor: 1, critic: 2 });
    d.start('critic'); // restart
    expect(d.get('critic')).toBe(0);
  });
});
