import { Agent, AgentContext, definePlugin } from '../../src/index.js';
import { Td3Agent } from './td3-agent.js';
import { td3OptionsSchema, type Td3Options } from './td3-options.js';

/** `agent.td3`: TD3 (Fujimoto et al. 2018) with sparse-capable actor and twin critics (README.md). */
export default definePlugin<Td3Options>({
  id: 'agent.td3',
  kind: 'agent',
  description: 'TD3 (Fujimoto et al. 2018): twin critics, target policy smoothing, delayed actor updates, Polyak targets',
  optionsSchema: td3OptionsSchema,
  register: ({ bind, options }) => bind(Agent).toResolvedValue((context: AgentContext) => new Td3Agent(options, context), [AgentContext]),
});
