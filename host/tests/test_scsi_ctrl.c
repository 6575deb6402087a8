// SPDX-License-Identifier: GPL-2.0-only
/*
 * The SCSI controller (scsi_ctrl.c): LUN table, request decoding and the
 * io_uring queue, against a real image file and guest RAM in a buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/stat.h>

#include "helpers.h"
#include "scsi_ctrl.h"

#define RAM		(4u << 20)
#define MiB		(1ull << 20)

struct fx {
	char *dir, *img, *img2;
	uint8_t *ram;
	struct guestmem gm;
	struct scsi_ctrl c;
	struct scsi_queue q;
	uint64_t tid;
	uint8_t pkt[8192];
};

static int setup(void **state)
{
	struct guestmem_layout l;
	char err[256];
	struct fx *f = calloc(1, sizeof(*f));
	struct scsi_lun_cfg cfg = { .discard = true };
	int fd;

	assert_non_null(f);
	f->dir = make_tmpdir();
	f->img = tmp_path(f->dir, "disk.img");
	f->img2 = tmp_path(f->dir, "disk2.img");
	fd = open(f->img, O_CREAT | O_RDWR, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 16 * MiB), 0);
	close(fd);
	f->ram = calloc(1, RAM);
	assert_non_null(f->ram);
	assert_int_equal(guestmem_layout_fixed(RAM, RAM, &l), 0);
	guestmem_attach(&f->gm, f->ram, &l);
	assert_int_equal(scsi_ctrl_init(&f->c, 8, 2, 1 << 20, SCSI_MAX_SEGMENTS, 1), 0);
	cfg.path = f->img;
	assert_int_equal(scsi_ctrl_lun_add(&f->c, 0, &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(scsi_queue_init(&f->q, &f->c, &f->gm, true), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	scsi_queue_fini(&f->q);
	scsi_ctrl_fini(&f->c);
	unlink(f->img);
	unlink(f->img2);
	rmdir(f->dir);
	free(f->img);
	free(f->img2);
	free(f->dir);
	free(f->ram);
	free(f);
	return 0;
}

/* Build a request packet; @gpa/@len: one range each, @nr of them. */
static void build(struct fx *f, struct kvmbus_pkt_info *pi, const void *msg,
		  uint32_t msg_len, const uint64_t *gpa, const uint32_t *len,
		  uint32_t nr, uint16_t flags)
{
	uint32_t off = sizeof(struct kvmbus_pkt_desc), i;
	struct kvmbus_gpa_list l = { .nr_ranges = cpu_to_le32(nr) };
	struct kvmbus_gpa_range r = { 0 };

	memset(f->pkt, 0, sizeof(f->pkt));
	pi->type = nr ? KVMBUS_PKT_GPA : KVMBUS_PKT_INBAND;
	pi->flags = flags;
	if (nr) {
		memcpy(f->pkt + off, &l, sizeof(l));
		off += sizeof(l);
		for (i = 0; i < nr; i++) {
			r.gpa = cpu_to_le64(gpa[i]);
			r.len = cpu_to_le32(len[i]);
			memcpy(f->pkt + off, &r, sizeof(r));
			off += sizeof(r);
		}
	}
	pi->data_offset = (uint16_t)off;
	pi->data_len = msg_len;
	pi->total_len = (off + msg_len + 7) & ~7u;
	pi->trans_id = ++f->tid;
	memcpy(f->pkt + off, msg, msg_len);
}

/* Queue a request that asks for its completion: it must be taken. */
static void submit(struct fx *f, struct kvmbus_pkt_info *pi, const void *msg,
		   uint32_t msg_len, const uint64_t *gpa, const uint32_t *len,
		   uint32_t nr)
{
	build(f, pi, msg, msg_len, gpa, len, nr, KVMBUS_PKT_F_COMP_REQUESTED);
	assert_true(scsi_queue_packet(&f->q, pi, f->pkt));
}

/* Queue the task management function @op for @target on @lun. */
static void submit_tmf(struct fx *f, struct kvmbus_pkt_info *pi, uint16_t op,
		       uint64_t target, uint16_t lun)
{
	struct kvmbus_scsi_tmf t = {
		.hdr.op = cpu_to_le16(op),
		.target_id = cpu_to_le64(target),
		.lun = cpu_to_le16(lun),
	};

	submit(f, pi, &t, sizeof(t), NULL, NULL, 0);
}

/* Wait for the next answer. */
static struct scsi_slot *answer(struct fx *f)
{
	struct pollfd p = { .fd = f->q.efd, .events = POLLIN };
	struct scsi_slot *s;
	int i;

	for (i = 0; i < 500; i++) {
		scsi_queue_run(&f->q);
		s = scsi_queue_next(&f->q);
		if (s)
			return s;
		poll(&p, 1, 10);
	}
	fail_msg("no answer");
	return NULL;
}

/* Run one EXECUTE; return its answer (already marked sent). */
static struct kvmbus_scsi_resp exec(struct fx *f, uint16_t lun,
				    const uint8_t *cdb, uint8_t cdb_len,
				    uint8_t dir, uint64_t gpa, uint32_t len)
{
	struct kvmbus_scsi_req req = {
		.hdr.op = cpu_to_le16(KVMBUS_SCSI_OP_EXECUTE),
		.lun = cpu_to_le16(lun),
		.cdb_len = cdb_len,
		.dir = dir,
		.data_len = cpu_to_le32(len),
	};
	struct kvmbus_pkt_info pi;
	struct kvmbus_scsi_resp r;
	struct scsi_slot *s;

	memcpy(req.cdb, cdb, cdb_len);
	submit(f, &pi, &req, sizeof(req), &gpa, &len, len ? 1 : 0);
	s = answer(f);
	assert_int_equal(s->trans_id, pi.trans_id);
	assert_int_equal(s->resp_len, sizeof(r));
	memcpy(&r, &s->u.resp, sizeof(r));
	scsi_queue_sent(&f->q, s);
	assert_null(scsi_queue_next(&f->q));
	return r;
}

#define EXEC(f, lun, dir, gpa, len, ...) ({ \
	const uint8_t cdb_[] = { __VA_ARGS__ }; \
	exec(f, lun, cdb_, sizeof(cdb_), dir, gpa, len); \
})

#define IN	KVMBUS_SCSI_DIR_FROM_DEVICE
#define OUT	KVMBUS_SCSI_DIR_TO_DEVICE
#define NONE	KVMBUS_SCSI_DIR_NONE

static void expect_ok(const struct kvmbus_scsi_resp *r, uint32_t residual)
{
	assert_int_equal(r->host_status, KVMBUS_SCSI_HS_OK);
	assert_int_equal(r->scsi_status, 0);
	assert_int_equal(r->sense_len, 0);
	assert_int_equal(le32_to_cpu(r->residual), residual);
}

static void test_offer_and_init(void **state)
{
	struct fx *f = *state;
	struct kvmbus_scsi_init in = {
		.hdr.op = cpu_to_le16(KVMBUS_SCSI_OP_INIT),
		.version = cpu_to_le32(1),
	};
	struct kvmbus_scsi_offer o;
	struct kvmbus_pkt_info pi;
	struct scsi_slot *s;

	scsi_ctrl_offer(&f->c, &o);
	assert_int_equal(le16_to_cpu(o.max_luns), 8);
	assert_int_equal(le16_to_cpu(o.max_queues), 2);
	assert_int_equal(le32_to_cpu(o.max_transfer), 1 << 20);
	assert_int_equal(le32_to_cpu(o.max_segments), 256);
	submit(f, &pi, &in, sizeof(in), NULL, NULL, 0);
	s = answer(f);
	assert_int_equal(s->resp_len, sizeof(s->u.init));
	assert_int_equal(le32_to_cpu(s->u.init.hdr.status), 0);
	assert_int_equal(le32_to_cpu(s->u.init.version), 1);
	assert_int_equal(le32_to_cpu(s->u.init.luns_generation), 2);
	assert_int_equal(le16_to_cpu(s->u.init.limits.max_luns), 8);
	assert_int_equal(le32_to_cpu(s->u.init.limits.max_transfer), 1 << 20);
	scsi_queue_sent(&f->q, s);
	in.version = 0;
	submit(f, &pi, &in, sizeof(in), NULL, NULL, 0);
	s = answer(f);
	assert_int_equal(le32_to_cpu(s->u.init.hdr.status), EPROTONOSUPPORT);
	scsi_queue_sent(&f->q, s);
}

static void test_inquiry_in_place(void **state)
{
	struct fx *f = *state;
	struct kvmbus_scsi_resp r;

	r = EXEC(f, 0, IN, 0x1000, 96, 0x12, 0, 0, 0, 96, 0);
	expect_ok(&r, 96 - 36);
	assert_memory_equal(f->ram + 0x1000 + 8, "KVMBUS  Virtual Disk", 20);
	r = EXEC(f, 0, IN, 0x2000, 64, 0x12, 1, 0x80, 0, 64, 0);
	expect_ok(&r, 64 - 18);
	assert_memory_equal(f->ram + 0x2000 + 4, "KVMBUS00010000", 14);
}

static void test_write_read(void **state)
{
	struct fx *f = *state;
	struct kvmbus_scsi_resp r;
	uint8_t buf[4096];
	int fd, i;

	for (i = 0; i < 8192; i++)
		f->ram[0x10000 + i] = (uint8_t)(i * 7 + 1);
	/* WRITE(10) 16 blocks at LBA 100, FUA. */
	r = EXEC(f, 0, OUT, 0x10000, 8192, 0x2a, 0x08, 0, 0, 0, 100, 0, 0,
		 16, 0);
	expect_ok(&r, 0);
	fd = open(f->img, O_RDONLY);
	assert_int_equal(pread(fd, buf, 4096, 100 * 512 + 4096), 4096);
	close(fd);
	assert_memory_equal(buf, f->ram + 0x10000 + 4096, 4096);
	/* READ(16) it back elsewhere. */
	r = EXEC(f, 0, IN, 0x20000, 8192, 0x88, 0, 0, 0, 0, 0, 0, 0, 0, 100,
		 0, 0, 0, 16, 0, 0);
	expect_ok(&r, 0);
	assert_memory_equal(f->ram + 0x20000, f->ram + 0x10000, 8192);
	/* SYNCHRONIZE CACHE. */
	r = EXEC(f, 0, NONE, 0, 0, 0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	expect_ok(&r, 0);
	assert_true(f->c.stats.flushes == 1);
	/* READ past the end: CHECK CONDITION, nothing moved. */
	r = EXEC(f, 0, IN, 0x20000, 512, 0x28, 0, 0, 0, 0x80, 0, 0, 0, 1, 0);
	assert_int_equal(r.host_status, KVMBUS_SCSI_HS_OK);
	assert_int_equal(r.scsi_status, 2);
	assert_int_equal(r.sense_len, 18);
	assert_int_equal(r.sense[2], 5);
	assert_int_equal(r.sense[12], 0x21);
	assert_int_equal(le32_to_cpu(r.residual), 512);
}

/* A request split over several ranges, one of them unaligned. */
static void test_scatter(void **state)
{
	struct fx *f = *state;
	const uint8_t cdb[10] = { 0x28, 0, 0, 0, 0, 100, 0, 0, 16, 0 };
	struct kvmbus_scsi_req req = {
		.hdr.op = cpu_to_le16(KVMBUS_SCSI_OP_EXECUTE),
		.cdb_len = 10,
		.dir = IN,
		.data_len = cpu_to_le32(8192),
	};
	const uint64_t gpa[3] = { 0x30000, 0x40100, 0x50000 };
	const uint32_t len[3] = { 1000, 5000, 2192 };
	struct kvmbus_pkt_info pi;
	struct scsi_slot *s;
	uint8_t want[8192];
	int fd;

	memcpy(req.cdb, cdb, sizeof(cdb));
	fd = open(f->img, O_RDWR);
	memset(want, 0x5c, sizeof(want));
	want[0] = 1;
	want[8191] = 2;
	assert_int_equal(pwrite(fd, want, 8192, 100 * 512), 8192);
	close(fd);
	submit(f, &pi, &req, sizeof(req), gpa, len, 3);
	s = answer(f);
	expect_ok(&s->u.resp, 0);
	scsi_queue_sent(&f->q, s);
	assert_memory_equal(f->ram + 0x30000, want, 1000);
	assert_memory_equal(f->ram + 0x40100, want + 1000, 5000);
	assert_memory_equal(f->ram + 0x50000, want + 6000, 2192);
}

/*
 * max_segments= (vsp_scsi.c): 1..SCSI_MAX_SEGMENTS, offered as given,
 * and a request with more ranges is refused before anything is read.
 */
static void test_max_segments(void **state)
{
	struct fx *f = *state;
	const uint8_t cdb[10] = { 0x28, 0, 0, 0, 0, 100, 0, 0, 16, 0 };
	struct kvmbus_scsi_req req = {
		.hdr.op = cpu_to_le16(KVMBUS_SCSI_OP_EXECUTE),
		.cdb_len = 10,
		.dir = IN,
		.data_len = cpu_to_le32(8192),
	};
	const uint64_t gpa[3] = { 0x30000, 0x40000, 0x50000 };
	const uint32_t len3[3] = { 4096, 2048, 2048 };
	const uint32_t len2[2] = { 4096, 4096 };
	struct kvmbus_scsi_offer o;
	struct kvmbus_pkt_info pi;
	struct scsi_ctrl c;
	struct scsi_slot *s;

	assert_int_equal(scsi_ctrl_init(&c, 8, 2, 1 << 20, 0, 1), -EINVAL);
	assert_int_equal(scsi_ctrl_init(&c, 8, 2, 1 << 20,
					SCSI_MAX_SEGMENTS + 1, 1), -EINVAL);
	assert_int_equal(scsi_ctrl_init(&c, 8, 2, 1 << 20, 2, 1), 0);
	scsi_ctrl_offer(&c, &o);
	assert_int_equal(le32_to_cpu(o.max_segments), 2);
	scsi_ctrl_fini(&c);

	/* The fixture's controller, as if set up with max_segments=2. */
	f->c.max_segments = 2;
	memcpy(req.cdb, cdb, sizeof(cdb));
	memset(f->ram + 0x30000, 0xee, 4096);
	submit(f, &pi, &req, sizeof(req), gpa, len3, 3);
	s = answer(f);
	assert_int_equal(s->u.resp.host_status, KVMBUS_SCSI_HS_BAD_REQUEST);
	scsi_queue_sent(&f->q, s);
	assert_int_equal(f->ram[0x30000], 0xee);	/* nothing read */
	submit(f, &pi, &req, sizeof(req), gpa, len2, 2);
	s = answer(f);
	expect_ok(&s->u.resp, 0);
	scsi_queue_sent(&f->q, s);
}

static uint64_t allocated(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static void test_unmap_punches(void **state)
{
	struct fx *f = *state;
	struct kvmbus_scsi_resp r;
	uint8_t *list = f->ram + 0x3000;
	uint64_t before;

	memset(f->ram + 0x100000, 0xee, 1 << 20);
	r = EXEC(f, 0, OUT, 0x100000, 1 << 20, 0x2a, 0, 0, 0, 0, 0, 0, 0x08,
		 0, 0);
	expect_ok(&r, 0);
	before = allocated(f->img);
	assert_true(before >= (1 << 20));
	/* UNMAP the first 512 KiB. */
	memset(list, 0, 24);
	list[1] = 22;
	list[3] = 16;
	list[8 + 10] = 0x04;		/* 1024 blocks */
	r = EXEC(f, 0, OUT, 0x3000, 24, 0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0);
	expect_ok(&r, 0);
	assert_true(allocated(f->img) <= before - (512 << 10));
	/* WRITE SAME(16) UNMAP with a zero block: the other half. */
	memset(f->ram + 0x4000, 0, 512);
	r = EXEC(f, 0, OUT, 0x4000, 512, 0x93, 0x08, 0, 0, 0, 0, 0, 0, 0x04,
		 0, 0, 0, 0x04, 0, 0, 0);
	expect_ok(&r, 0);
	assert_true(allocated(f->img) <= before - (1 << 20));
	/* The data reads back as zeroes. */
	r = EXEC(f, 0, IN, 0x100000, 4096, 0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0);
	expect_ok(&r, 0);
	assert_true(f->ram[0x100000] == 0 && f->ram[0x100fff] == 0);
	/* A pattern is written out. */
	memset(f->ram + 0x4000, 0x42, 512);
	r = EXEC(f, 0, OUT, 0x4000, 512, 0x93, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		 0, 0, 0, 20, 0, 0);
	expect_ok(&r, 0);
	r = EXEC(f, 0, IN, 0x100000, 4096, 0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0);
	assert_true(f->ram[0x100000] == 0x42 && f->ram[0x100fff] == 0x42);
}

/*
 * UNMAP over holes: a range that is all hole succeeds (nothing to punch),
 * one that starts in a hole still frees the data after it.
 */
static void test_unmap_holes(void **state)
{
	struct fx *f = *state;
	struct kvmbus_scsi_resp r;
	uint8_t *list = f->ram + 0x3000;
	uint64_t before;

	/* 64 KiB of data at LBA 8192 (4 MiB); the rest is hole. */
	memset(f->ram + 0x100000, 0xee, 64 << 10);
	r = EXEC(f, 0, OUT, 0x100000, 64 << 10, 0x2a, 0, 0, 0, 0x20, 0, 0,
		 0, 0x80, 0);
	expect_ok(&r, 0);
	before = allocated(f->img);
	assert_true(before >= (64 << 10));
	/* LBA 0..4095: all hole. */
	memset(list, 0, 24);
	list[1] = 22;
	list[3] = 16;
	list[8 + 10] = 0x10;		/* 4096 blocks */
	r = EXEC(f, 0, OUT, 0x3000, 24, 0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0);
	expect_ok(&r, 0);
	assert_int_equal(allocated(f->img), before);
	/* LBA 4096..12287: a hole, then the data. */
	list[8 + 6] = 0x10;		/* LBA 4096 */
	list[8 + 10] = 0x20;		/* 8192 blocks */
	r = EXEC(f, 0, OUT, 0x3000, 24, 0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0);
	expect_ok(&r, 0);
	assert_true(allocated(f->img) <= before - (64 << 10));
	r = EXEC(f, 0, IN, 0x100000, 4096, 0x28, 0, 0, 0, 0x20, 0, 0, 0, 8, 0);
	expect_ok(&r, 0);
	assert_true(f->ram[0x100000] == 0 && f->ram[0x100fff] == 0);
}

static void test_bad_requests(void **state)
{
	struct fx *f = *state;
	struct kvmbus_scsi_req req = {
		.hdr.op = cpu_to_le16(KVMBUS_SCSI_OP_EXECUTE),
		.cdb_len = 6,
		.dir = IN,
		.data_len = cpu_to_le32(96),
		.cdb = { 0x12, 0, 0, 0, 96, 0 },
	};
	struct kvmbus_scsi_resp r;
	struct kvmbus_pkt_info pi;
	struct scsi_slot *s;
	uint64_t gpa = RAM - 64;
	uint32_t len = 96;

	/* A range past the end of RAM: FAULT, nothing written. */
	submit(f, &pi, &req, sizeof(req), &gpa, &len, 1);
	s = answer(f);
	assert_int_equal(s->u.resp.host_status, KVMBUS_SCSI_HS_FAULT);
	assert_int_equal(le32_to_cpu(s->u.resp.residual), 96);
	scsi_queue_sent(&f->q, s);
	/* Ranges shorter and longer than data_len. */
	gpa = 0x1000;
	len = 95;
	submit(f, &pi, &req, sizeof(req), &gpa, &len, 1);
	s = answer(f);
	assert_int_equal(s->u.resp.host_status, KVMBUS_SCSI_HS_BAD_REQUEST);
	scsi_queue_sent(&f->q, s);
	len = 97;
	submit(f, &pi, &req, sizeof(req), &gpa, &len, 1);
	s = answer(f);
	assert_int_equal(s->u.resp.host_status, KVMBUS_SCSI_HS_BAD_REQUEST);
	scsi_queue_sent(&f->q, s);
	/* Wrong direction for the command, bad cdb_len, bad dir, LUN. */
	r = EXEC(f, 0, OUT, 0x1000, 96, 0x12, 0, 0, 0, 96, 0);
	assert_int_equal(r.host_status, KVMBUS_SCSI_HS_BAD_REQUEST);
	r = exec(f, 0, req.cdb, 0, IN, 0x1000, 96);
	assert_int_equal(r.host_status, KVMBUS_SCSI_HS_BAD_REQUEST);
	r = exec(f, 0, req.cdb, 17, IN, 0x1000, 96);
	assert_int_equal(r.host_status, KVMBUS_SCSI_HS_BAD_REQUEST);
	r = exec(f, 0, req.cdb, 6, 3, 0x1000, 96);
	assert_int_equal(r.host_status, KVMBUS_SCSI_HS_BAD_REQUEST);
	r = exec(f, 0, req.cdb, 6, NONE, 0x1000, 96);
	assert_int_equal(r.host_status, KVMBUS_SCSI_HS_BAD_REQUEST);
	r = exec(f, 0, req.cdb, 6, IN, 0, 0);
	assert_int_equal(r.host_status, KVMBUS_SCSI_HS_BAD_REQUEST);
	r = exec(f, 8, req.cdb, 6, IN, 0x1000, 96);
	assert_int_equal(r.host_status, KVMBUS_SCSI_HS_BAD_REQUEST);
	r = exec(f, 0, req.cdb, 6, IN, 0x1000, (1 << 20) + 4096);
	assert_int_equal(r.host_status, KVMBUS_SCSI_HS_BAD_REQUEST);
	assert_true(f->c.stats.bad_requests >= 10);

	/* Malformed: no completion request, a COMP, short, unknown op. */
	build(f, &pi, &req, sizeof(req), &gpa, &len, 1, 0);
	assert_false(scsi_queue_packet(&f->q, &pi, f->pkt));
	build(f, &pi, &req, sizeof(req), &gpa, &len, 1,
	      KVMBUS_PKT_F_COMP_REQUESTED);
	pi.type = KVMBUS_PKT_COMP;
	assert_false(scsi_queue_packet(&f->q, &pi, f->pkt));
	build(f, &pi, &req, 31, NULL, NULL, 0, KVMBUS_PKT_F_COMP_REQUESTED);
	assert_false(scsi_queue_packet(&f->q, &pi, f->pkt));
	req.hdr.op = cpu_to_le16(99);
	build(f, &pi, &req, sizeof(req), NULL, NULL, 0,
	      KVMBUS_PKT_F_COMP_REQUESTED);
	assert_false(scsi_queue_packet(&f->q, &pi, f->pkt));
	assert_null(scsi_queue_next(&f->q));
	assert_int_equal(f->c.stats.malformed, 4);
}

static void test_luns(void **state)
{
	struct fx *f = *state;
	struct scsi_lun_cfg cfg = { .path = f->img2, .size = 8 * MiB,
				    .readonly = false };
	struct kvmbus_scsi_resp r;
	char err[256];
	int fd;

	/* LUN 3 does not exist. */
	r = EXEC(f, 3, IN, 0x1000, 96, 0x12, 0, 0, 0, 96, 0);
	expect_ok(&r, 60);
	assert_int_equal(f->ram[0x1000], 0x7f);
	r = EXEC(f, 3, NONE, 0, 0, 0, 0, 0, 0, 0, 0);
	assert_int_equal(r.host_status, KVMBUS_SCSI_HS_NO_LUN);
	assert_int_equal(r.sense[12], 0x25);
	/* Add it (creating the image at its size), REPORT LUNS. */
	fd = open(f->img2, O_CREAT | O_RDWR, 0600);
	close(fd);
	assert_int_equal(scsi_ctrl_lun_add(&f->c, 3, &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(scsi_ctrl_lun_add(&f->c, 3, &cfg, err, sizeof(err)),
			 -EEXIST);
	assert_int_equal(scsi_ctrl_lun_add(&f->c, 8, &cfg, err, sizeof(err)),
			 -ERANGE);
	cfg.path = "/nonexistent/x.img";
	assert_int_equal(scsi_ctrl_lun_add(&f->c, 4, &cfg, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/x.img"));
	r = EXEC(f, 5, IN, 0x1000, 64, 0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0,
		 0);
	expect_ok(&r, 64 - 24);
	assert_int_equal(f->ram[0x1000 + 3], 16);
	assert_int_equal(f->ram[0x1000 + 8 + 1], 0);
	assert_int_equal(f->ram[0x1000 + 16 + 1], 3);
	r = EXEC(f, 3, IN, 0x1000, 8, 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	expect_ok(&r, 0);
	assert_int_equal(f->ram[0x1000 + 2], 0x3f);	/* 16383 */
	/* Resize: unit attention, then the new size. */
	assert_int_equal(scsi_ctrl_lun_resize(&f->c, 3, 16 * MiB, err,
					      sizeof(err)), 0);
	assert_int_equal(scsi_ctrl_lun_resize(&f->c, 3, 1000, err,
					      sizeof(err)), -EINVAL);
	assert_int_equal(scsi_ctrl_lun_resize(&f->c, 6, MiB, err,
					      sizeof(err)), -ENOENT);
	r = EXEC(f, 3, IN, 0x1000, 8, 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	assert_int_equal(r.scsi_status, 2);
	assert_int_equal(r.sense[2], 6);
	assert_int_equal(r.sense[12], 0x2a);
	r = EXEC(f, 3, IN, 0x1000, 8, 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	expect_ok(&r, 0);
	assert_int_equal(f->ram[0x1000 + 2], 0x7f);
	assert_int_equal(allocated(f->img2) < MiB, 1);
	/* Remove it. */
	assert_int_equal(scsi_ctrl_lun_remove(&f->c, 3), 0);
	assert_int_equal(scsi_ctrl_lun_remove(&f->c, 3), -ENOENT);
	r = EXEC(f, 3, IN, 0x1000, 8, 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	assert_int_equal(r.host_status, KVMBUS_SCSI_HS_NO_LUN);
}

static void test_readonly_lun(void **state)
{
	struct fx *f = *state;
	struct scsi_lun_cfg cfg = { .path = f->img, .readonly = true };
	struct kvmbus_scsi_resp r;
	char err[256];

	assert_int_equal(scsi_ctrl_lun_add(&f->c, 1, &cfg, err, sizeof(err)),
			 0);
	r = EXEC(f, 1, OUT, 0x1000, 512, 0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0);
	assert_int_equal(r.scsi_status, 2);
	assert_int_equal(r.sense[2], 7);
	assert_int_equal(r.sense[12], 0x27);
	r = EXEC(f, 1, IN, 0x1000, 512, 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0);
	expect_ok(&r, 0);
	assert_int_equal(scsi_ctrl_lun_resize(&f->c, 1, 32 * MiB, err,
					      sizeof(err)), -EROFS);
}

static void tmf(struct fx *f, uint16_t op, uint64_t target, uint16_t lun,
		uint32_t want_status)
{
	struct kvmbus_pkt_info pi;
	struct scsi_slot *s;

	submit_tmf(f, &pi, op, target, lun);
	s = answer(f);
	assert_int_equal(s->trans_id, pi.trans_id);
	assert_int_equal(le16_to_cpu(s->u.tmf.hdr.op), op);
	assert_int_equal(le32_to_cpu(s->u.tmf.hdr.status), want_status);
	scsi_queue_sent(&f->q, s);
}

static void test_tmf(void **state)
{
	struct fx *f = *state;
	struct kvmbus_scsi_req req = {
		.hdr.op = cpu_to_le16(KVMBUS_SCSI_OP_EXECUTE),
		.cdb_len = 10,
		.dir = IN,
		.data_len = cpu_to_le32(1 << 20),
		.cdb = { 0x28, 0, 0, 0, 0, 0, 0, 0x08, 0, 0 },
	};
	struct kvmbus_pkt_info pi;
	struct scsi_slot *s;
	uint64_t gpa = 0x100000;
	uint32_t len = 1 << 20;
	int i, n = 0;

	tmf(f, KVMBUS_SCSI_OP_ABORT, 12345, 0, ENOENT);
	tmf(f, KVMBUS_SCSI_OP_RESET_LUN, 0, 0, 0);
	tmf(f, KVMBUS_SCSI_OP_RESET_HOST, 0, 0, 0);
	/* Reads in flight, then a host reset: every read is answered
	 * (done or aborted) before the reset's answer. */
	for (i = 0; i < 8; i++) {
		submit(f, &pi, &req, sizeof(req), &gpa, &len, 1);
	}
	submit_tmf(f, &pi, KVMBUS_SCSI_OP_RESET_HOST, 0, 0);
	for (;;) {
		s = answer(f);
		if (s->trans_id == pi.trans_id) {
			assert_int_equal(s->resp_len, sizeof(s->u.tmf));
			scsi_queue_sent(&f->q, s);
			break;
		}
		assert_true(s->u.resp.host_status == KVMBUS_SCSI_HS_OK ||
			    s->u.resp.host_status == KVMBUS_SCSI_HS_ABORTED);
		scsi_queue_sent(&f->q, s);
		n++;
	}
	assert_int_equal(n, 8);
	assert_int_equal(f->q.inflight, 0);
}

/* Fill every slot: the queue says it is full, and frees up again. */
static void test_full(void **state)
{
	struct fx *f = *state;
	struct kvmbus_scsi_req req = {
		.hdr.op = cpu_to_le16(KVMBUS_SCSI_OP_EXECUTE),
		.cdb_len = 6,
		.cdb = { 0 },
	};
	struct kvmbus_pkt_info pi;
	struct scsi_slot *s;
	unsigned int i;

	for (i = 0; i < SCSI_QUEUE_DEPTH; i++) {
		assert_false(scsi_queue_full(&f->q));
		submit(f, &pi, &req, sizeof(req), NULL, NULL, 0);
	}
	assert_true(scsi_queue_full(&f->q));
	for (i = 0; i < SCSI_QUEUE_DEPTH; i++) {
		s = scsi_queue_next(&f->q);
		assert_non_null(s);
		assert_int_equal(s->trans_id, f->tid - SCSI_QUEUE_DEPTH + 1 + i);
		scsi_queue_sent(&f->q, s);
	}
	assert_false(scsi_queue_full(&f->q));
	assert_null(scsi_queue_next(&f->q));
}

/* Tear down a queue with I/O in flight: nothing leaks, nothing hangs. */
static void test_fini_inflight(void **state)
{
	struct fx *f = *state;
	struct kvmbus_scsi_req req = {
		.hdr.op = cpu_to_le16(KVMBUS_SCSI_OP_EXECUTE),
		.cdb_len = 10,
		.dir = OUT,
		.data_len = cpu_to_le32(1 << 20),
		.cdb = { 0x2a, 0, 0, 0, 0, 0, 0, 0x08, 0, 0 },
	};
	struct kvmbus_pkt_info pi;
	uint64_t gpa = 0x100000;
	uint32_t len = 1 << 20;
	int i;

	for (i = 0; i < 4; i++) {
		submit(f, &pi, &req, sizeof(req), &gpa, &len, 1);
	}
	scsi_queue_run(&f->q);
	/* teardown() finishes it, the LUN goes with the controller. */
	assert_int_equal(scsi_ctrl_lun_remove(&f->c, 0), 0);
}

/*
 * A stalled LUN (fault injection) holds its reads; ABORT of one is
 * refused at once (EBUSY), RESET_LUN answers it ABORTED, and after
 * stall=0 a held read runs; a held read at teardown is answered too.
 */
static void test_stall(void **state)
{
	struct fx *f = *state;
	struct kvmbus_scsi_req req = {
		.hdr.op = cpu_to_le16(KVMBUS_SCSI_OP_EXECUTE),
		.cdb_len = 10,
		.dir = IN,
		.data_len = cpu_to_le32(4096),
		.cdb = { 0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0 },
	};
	struct kvmbus_pkt_info pi;
	struct scsi_slot *s;
	uint64_t gpa = 0x100000, held;
	uint32_t len = 4096;
	int i;

	assert_int_equal(scsi_ctrl_lun_stall(&f->c, 9, true), -ENOENT);
	assert_int_equal(scsi_ctrl_lun_stall(&f->c, 0, true), 0);
	submit(f, &pi, &req, sizeof(req), &gpa, &len, 1);
	held = pi.trans_id;
	for (i = 0; i < 5; i++)
		scsi_queue_run(&f->q);
	assert_null(scsi_queue_next(&f->q));
	assert_int_equal(f->q.stalled, 1);
	tmf(f, KVMBUS_SCSI_OP_ABORT, held, 0, EBUSY);
	assert_int_equal(f->q.inflight, 1);
	submit_tmf(f, &pi, KVMBUS_SCSI_OP_RESET_LUN, 0, 0);
	s = answer(f);
	assert_int_equal(s->trans_id, held);
	assert_int_equal(s->u.resp.host_status, KVMBUS_SCSI_HS_ABORTED);
	scsi_queue_sent(&f->q, s);
	s = answer(f);
	assert_int_equal(s->trans_id, pi.trans_id);
	assert_int_equal(le32_to_cpu(s->u.tmf.hdr.status), 0);
	scsi_queue_sent(&f->q, s);
	assert_int_equal(f->q.inflight, 0);
	assert_int_equal(f->q.stalled, 0);
	/* Held, then released: it runs. */
	submit(f, &pi, &req, sizeof(req), &gpa, &len, 1);
	scsi_queue_run(&f->q);
	assert_null(scsi_queue_next(&f->q));
	assert_int_equal(scsi_ctrl_lun_stall(&f->c, 0, false), 0);
	s = answer(f);
	assert_int_equal(s->trans_id, pi.trans_id);
	assert_int_equal(s->u.resp.host_status, KVMBUS_SCSI_HS_OK);
	scsi_queue_sent(&f->q, s);
	assert_int_equal(f->q.inflight, 0);
	/* Held at teardown: teardown() answers it, nothing leaks. */
	assert_int_equal(scsi_ctrl_lun_stall(&f->c, 0, true), 0);
	submit(f, &pi, &req, sizeof(req), &gpa, &len, 1);
	assert_int_equal(f->q.stalled, 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_offer_and_init),
		T(test_inquiry_in_place),
		T(test_write_read),
		T(test_scatter),
		T(test_max_segments),
		T(test_unmap_punches),
		T(test_unmap_holes),
		T(test_bad_requests),
		T(test_luns),
		T(test_readonly_lun),
		T(test_tmf),
		T(test_full),
		T(test_fini_inflight),
		T(test_stall),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
