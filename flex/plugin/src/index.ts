import * as FlexPlugin from '@twilio/flex-plugin';

import HearroPlugin from './HearroPlugin';

FlexPlugin.loadPlugin(HearroPlugin);
