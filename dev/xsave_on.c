// SPDX-License-Identifier: GPL-2.0
/* xsave_on.c: a guest kernel module for dev/emulate-avx512.sh, never built into tconv.
 *
 * Bochs 2.7's CPUID leaf 0xD reports XSAVE sizes that disagree with its own offsets, so Debian's kernel
 * turns XSAVE off on the emulated CPU: no AVX state is enabled or switched.  This module enables it
 * for user space (CR4.OSXSAVE, XCR0 = x87 | SSE | AVX | opmask | ZMM_Hi256 | Hi16_ZMM, on every CPU),
 * and, since that kernel switches only the legacy (FXSAVE) state between tasks, saves and restores the
 * rest (the upper halves of the vector registers and the opmask registers) in a probe on the
 * sched_switch tracepoint, per user task, in a fixed table allocated at load (no allocation in the
 * scheduler).  The table is direct-mapped by task: a task whose slot another took starts its next run
 * from the other's values, so it is sized far above the tasks a test run makes, and evictions are
 * counted (pr_info at unload, and /sys/module/xsave_on/parameters/evictions). */
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/smp.h>
#include <linux/tracepoint.h>
#include <linux/vmalloc.h>
#include <asm/processor-flags.h>
#include <asm/tlbflush.h>

#define XCR0_ON 0xE7u       /* x87, SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM */
#define UPPER_LO 0xE4u      /* the components FXSAVE does not switch */
#define AREA 4096           /* one task's XSAVE area (standard format, 2688 bytes used), 64-aligned */
#define SLOTS 4096

struct slot {
	const struct task_struct *task;
	pid_t pid;
};

static struct slot *slots;
static u8 *areas;
static struct tracepoint *switch_tp;
static unsigned long evictions;
module_param(evictions, ulong, 0444);
static bool switch_upper = true; /* false: OSXSAVE and XCR0 only (shows what the switching is for) */
module_param(switch_upper, bool, 0444);

static void enable_cpu(void *unused)
{
	cr4_set_bits(X86_CR4_OSXSAVE);
	asm volatile("xsetbv" :: "a"(XCR0_ON), "d"(0u), "c"(0u));
}

static size_t slot_of(const struct task_struct *t)
{
	return (size_t)(((uintptr_t)t >> 6) * 0x9E3779B97F4A7C15ull >> 52) % SLOTS;
}

static void on_switch(void *data, bool preempt, struct task_struct *prev, struct task_struct *next,
		      unsigned int prev_state)
{
	if (prev->mm) {
		size_t i = slot_of(prev);
		if (slots[i].task && (slots[i].task != prev || slots[i].pid != prev->pid))
			++evictions;
		slots[i].task = prev, slots[i].pid = prev->pid;
		asm volatile("xsave64 (%0)" :: "r"(areas + i * AREA), "a"(UPPER_LO), "d"(0u) : "memory");
	}
	if (next->mm) {
		size_t i = slot_of(next);
		if (slots[i].task == next && slots[i].pid == next->pid)
			asm volatile("xrstor64 (%0)" :: "r"(areas + i * AREA), "a"(UPPER_LO), "d"(0u) : "memory");
	}
}

static void find_switch(struct tracepoint *tp, void *priv)
{
	if (strcmp(tp->name, "sched_switch") == 0)
		switch_tp = tp;
}

static int __init xsave_on_init(void)
{
	slots = vzalloc(sizeof(*slots) * SLOTS);
	areas = vzalloc((size_t)AREA * SLOTS); /* page aligned, zero headers: a first XRSTOR gives init state */
	for_each_kernel_tracepoint(find_switch, NULL);
	if (!slots || !areas || !switch_tp) {
		vfree(slots);
		vfree(areas);
		return -ENODEV;
	}
	on_each_cpu(enable_cpu, NULL, 1);
	if (switch_upper && tracepoint_probe_register(switch_tp, on_switch, NULL) != 0)
		return -ENODEV;
	pr_info("xsave_on: OSXSAVE and XCR0 = %#x on every CPU, upper state %s\n", XCR0_ON,
		switch_upper ? "switched per task" : "not switched");
	return 0;
}

static void __exit xsave_on_exit(void)
{
	if (switch_upper) {
		tracepoint_probe_unregister(switch_tp, on_switch, NULL);
		tracepoint_synchronize_unregister();
	}
	pr_info("xsave_on: %lu evictions\n", evictions);
	vfree(slots);
	vfree(areas);
}

module_init(xsave_on_init);
module_exit(xsave_on_exit);
MODULE_LICENSE("GPL");
