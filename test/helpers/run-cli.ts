/**
 * The real `agegender` command line from source, for tests that spawn it:
 *   node --import tsx test/helpers/run-cli.ts predict photo.jpg
 * (bin/agegender.js runs the same main() from dist/, which needs a build first.)
 */
import { main } from '../../src/cli/main.js';

await main(process.argv);
