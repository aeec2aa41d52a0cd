import { Agent, AgentContext, definePlugin } from '../../src/index.js';
import { SacAgent } from './sac-agent.js';
import { sacOptionsSchema, type SacOptions } from './sac-options.js';

/** `agent.sac`: SAC (Haarnoja et al. 2018) with automatic entropy tuning, sparse-capable networks (README.md). */
export default definePlugin<SacOptions>({
  id: 'agent.sac',
  kind: 'agent',
  description: 'SAC (Haarnoja et al. 2018): tanh-Gaussian actor, twin critics with target critics, automatic entropy tuning',
  optionsSchema: sacOptionsSchema,
  register: ({ bind, options }) => bind(Agent).toResolvedValue((context: AgentContext) => new SacAgent(options, context), [AgentContext]),
});
