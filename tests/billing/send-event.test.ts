import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { newUserId } from "../helpers/clerk.js";
import { type CliResult, describeRun, expectExit, runCli } from "../helpers/cli.js";
import { type ServiceProcess, startService } from "../helpers/service-process.js";

const TIMEOUT = 60_000;
const ANSWER = /^((?:subscription|subscriptionItem)\.\w+) (user_\w+) \(svix-id msg_[0-9a-f]{24}\) → (\d{3}) (.*)$/m;

function outcomeOf(result: CliResult) {
  expectExit(result, 0);
  const match = ANSWER.exec(result.stdout);
  if (!match) throw new Error(`no answer line:\n${describeRun(result)}`);
  expect(Number(match[3])).toBe(200);
  return (JSON.parse(match[4] ?? "null") as { outcome: string }).outcome;
}

/** `npm run send-event` with billing types against `npm start` (PGlite): an upgrade, a cancel, the period's end. */
describe("npm run send-event: Clerk Billing events against npm start on PGlite", () => {
  let dir: string;
  let dataDir: string;
  let service: ServiceProcess;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "send-billing-"));
    dataDir = join(dir, "pglite");
    service = await startService({ env: { PGLITE_DATA_DIR: dataDir, CLERK_WEBHOOK_SIGNING_SECRET: "" } });
  }, TIMEOUT);
  afterAll(async () => {
    await service?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  const send = async (type: string, userId: string, itemId: string, plan: string) =>
    outcomeOf(
      await runCli(
        "send-test-event",
        [type, "--user-id", userId, "--item-id", itemId, "--plan", plan, "--url", `${service.url}/webhooks/clerk`],
        { PGLITE_DATA_DIR: dataDir },
      ),
    );

  test(
    "an upgrade, a cancel and the period's end, each signed, posted and logged with its ids and outcome",
    async () => {
      const userId = newUserId();
      const [free, pro] = [`csub_item_free_${userId}`, `csub_item_pro_${userId}`];
      expect(
        await runCli(
          "send-test-event",
          ["user.created", "--user-id", userId, "--url", `${service.url}/webhooks/clerk`],
          { PGLITE_DATA_DIR: dataDir },
        ),
      ).toMatchObject({ code: 0 });
      expect(await send("subscription.created", userId, free, "free_user")).toBe("provisioned");
      expect(await send("subscriptionItem.ended", userId, free, "free_user")).toBe("provisioned");
      expect(await send("subscriptionItem.active", userId, pro, "pro")).toBe("provisioned");
      expect(await send("subscriptionItem.canceled", userId, pro, "pro")).toBe("provisioned");
      expect(await send("subscriptionItem.upcoming", userId, free, "free_user")).toBe("provisioned");
      expect(await send("subscriptionItem.ended", userId, pro, "pro")).toBe("provisioned");
      expect(await send("subscriptionItem.active", userId, free, "free_user")).toBe("provisioned");
      await vi.waitFor(() => {
        const lines = service.logs.filter((l) => l.msg === "clerk delivery" && l.userId === userId);
        expect(lines.map((l) => [l.type, l.outcome])).toEqual([
          ["user.created", "provisioned"],
          ["subscription.created", "provisioned"],
          ["subscriptionItem.ended", "provisioned"],
          ["subscriptionItem.active", "provisioned"],
          ["subscriptionItem.canceled", "provisioned"],
          ["subscriptionItem.upcoming", "provisioned"],
          ["subscriptionItem.ended", "provisioned"],
          ["subscriptionItem.active", "provisioned"],
        ]);
        expect(lines[3]?.subscriptionItemIds).toEqual([pro]);
        expect(JSON.stringify(lines)).not.toContain("@");
      });
      const metrics = await (await fetch(`${service.url}/metrics`)).text();
      expect(metrics).toContain('clerk_deliveries_total{type="subscriptionItem.canceled",outcome="provisioned"} 1');
    },
    TIMEOUT,
  );
});
