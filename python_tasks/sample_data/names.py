"""Chinese names, identity numbers and phone numbers, built column-wise.

Every character used is in GBK (the clients and collateral files are GBK) and no value contains a comma,
quote or line break, so the CSV files never need quoting.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from python_tasks.sample_data.arrow_build import bools as ab_bools
from python_tasks.sample_data.arrow_build import concat_strings, number_strings, pick
from python_tasks.sample_data.reference import Reference

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂文辉建华国红志新林海斌波宇浩凯鹏飞俊峰晨婷雪琳颖欣鑫帆博然"
    "宁东亮成龙云春玉兰荣德永晓立金光锋瑞佳子梅萍英庆祥福宏卫民利清彬松晶璐嘉思雨泽阳旭振"
)
BRAND = (
    "华盛恒通鑫达宏远金泰永兴瑞丰天成博源中科新创嘉合富隆德信安捷汇海东方光明正大联宇龙凯威力昌荣卓越锦程弘毅"
    "润祥鼎立辰星佳美智云峰山川特高亿万和顺"
)
_SURNAME_WEIGHT = 1.0 / np.arange(1, len(SURNAMES) + 1) ** 0.7

INDUSTRY_WORDS: dict[str, tuple[str, ...]] = {
    "C13": ("食品", "粮油"), "C14": ("食品", "食品科技"), "C15": ("酒业", "饮品"), "C16": ("烟草",),
    "C17": ("纺织", "织造"), "C18": ("服饰", "制衣"), "C19": ("鞋业", "皮革"), "C20": ("木业",),
    "C21": ("家具", "家居"), "C22": ("纸业", "包装"), "C23": ("印务", "彩印"), "C24": ("文体用品", "工艺品"),
    "C25": ("石化", "能源化工"), "C26": ("化工", "新材料"), "C27": ("医药", "生物医药"), "C28": ("化纤",),
    "C29": ("塑胶", "橡塑"), "C30": ("建材", "玻璃"), "C31": ("钢铁", "特钢"), "C32": ("铝业", "有色金属"),
    "C33": ("金属制品", "五金"), "C34": ("机械", "通用设备"), "C35": ("智能装备", "专用设备"),
    "C36": ("汽车零部件", "汽车部件"), "C37": ("船舶", "轨道交通装备"), "C38": ("电气", "电器", "新能源"),
    "C39": ("电子科技", "半导体", "通信设备"), "C40": ("仪器仪表",), "C41": ("实业",), "C42": ("再生资源",),
    "C43": ("机电设备维修",),
    "D44": ("电力", "能源"), "D45": ("燃气",), "D46": ("水务",),
    "E47": ("建设", "建筑工程"), "E48": ("路桥工程", "市政工程"), "E49": ("安装工程", "机电安装"),
    "E50": ("装饰工程", "建筑装饰"),
    "F51": ("贸易", "商贸", "供应链管理", "进出口"), "F52": ("商业", "百货", "超市"),
    "G53": ("铁路运输",), "G54": ("物流", "运输"), "G55": ("航运",), "G56": ("航空服务",), "G57": ("管道运输",),
    "G58": ("国际货运代理", "物流"), "G59": ("仓储", "冷链物流"), "G60": ("快递",),
    "H61": ("酒店管理", "酒店"), "H62": ("餐饮管理", "餐饮"),
    "I63": ("通信技术", "网络"), "I64": ("网络科技", "互联网科技"), "I65": ("软件", "信息技术", "数据科技"),
    "J66": ("小额贷款",), "J67": ("投资管理",), "J68": ("保险代理",), "J69": ("融资租赁", "融资担保"),
    "K70": ("置业", "房地产开发"), "L71": ("租赁", "设备租赁"), "L72": ("企业管理", "商务咨询", "会展服务"),
    "M73": ("研究院", "生物技术"), "M74": ("检测技术", "工程设计"), "M75": ("技术服务", "科技发展"),
    "N76": ("水利工程",), "N77": ("环保科技", "环境工程"), "N78": ("市政设施管理", "园林"), "N79": ("土地整理",),
    "O80": ("家政服务", "物业服务"), "O81": ("汽车维修", "维修服务"), "O82": ("服务",),
    "P83": ("教育科技", "培训"), "Q84": ("医疗管理", "医院管理"), "Q85": ("养老服务",),
    "R86": ("出版", "传媒"), "R87": ("影视文化", "影视传媒"), "R88": ("文化艺术",), "R89": ("体育发展",),
    "R90": ("娱乐", "文旅"),
}  # fmt: skip
_SECTION_FALLBACK = {"A": ("农业发展", "农牧"), "B": ("矿业", "煤业"), "S": ("服务中心",), "T": ("国际合作",)}

DISTRICTS = ("高新区", "经开区", "工业园区", "滨海新区", "开发区", "新区", "城区")
ROADS = ("人民路", "建设路", "解放路", "中山路", "长江路", "黄河路", "工业大道", "科技路", "创业路", "新华路", "和平路", "东风路")
BUILDINGS = ("厂房", "办公楼", "商铺", "写字楼", "仓库", "综合楼")
EQUIPMENT = ("数控机床", "自动化生产线", "注塑机", "加工中心", "印刷设备", "检测设备", "工程机械", "运输车辆")


def _industry_vocab(ref: Reference) -> tuple[list[str], np.ndarray, np.ndarray]:
    words: list[str] = []
    offsets, counts = [], []
    for code in ref.industry_codes:
        options = INDUSTRY_WORDS.get(code) or _SECTION_FALLBACK.get(code[0], ("实业",))
        offsets.append(len(words))
        counts.append(len(options))
        words.extend(options)
    return words, np.array(offsets), np.array(counts)


def company_names(
    rng: np.random.Generator, ref: Reference, region_idx: np.ndarray, industry_idx: np.ndarray, size_idx: np.ndarray
) -> pa.Array:
    """{city}{two-character brand}{industry word}{legal form}: 苏州恒通电子科技有限公司."""
    n = len(region_idx)
    words, offsets, counts = _industry_vocab(ref)
    word_idx = offsets[industry_idx] + (rng.random(n) * counts[industry_idx]).astype(np.int64)
    brand = list(BRAND)
    u = rng.random(n)
    p_group = np.array([0.30, 0.05, 0.0, 0.0])[size_idx]
    p_joint = np.array([0.40, 0.15, 0.05, 0.02])[size_idx]
    suffix = np.where(u < p_group, 2, np.where(u < p_group + p_joint, 1, 0))
    return concat_strings(
        pick(ref.region_short_name, region_idx),
        pick(brand, rng.integers(0, len(brand), n)),
        pick(brand, rng.integers(0, len(brand), n)),
        pick(words, word_idx),
        pick(("有限公司", "股份有限公司", "集团有限公司"), suffix),
    )


def person_names(rng: np.random.Generator, n: int) -> pa.Array:
    sw = _SURNAME_WEIGHT / _SURNAME_WEIGHT.sum()
    surname = rng.choice(len(SURNAMES), size=n, p=sw)
    given = list(GIVEN)
    first = pick(given, rng.integers(0, len(given), n))
    second = pick(given, rng.integers(0, len(given), n))
    two_char = ab_bools(rng.random(n) < 0.7)
    second = pc.if_else(two_char, second, "")
    return concat_strings(pick(list(SURNAMES), surname), first, second)


_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_ID_CHECK = tuple("10X98765432")


def id_numbers(rng: np.random.Generator, region_codes: np.ndarray, birth_days: np.ndarray) -> pa.Array:
    """18-digit resident ID numbers (GB 11643): area code, birth date, sequence, check character."""
    n = len(birth_days)
    region_codes = np.asarray(region_codes, dtype=np.int64)
    city = np.where(region_codes % 10_000 == 0, region_codes + 100, region_codes)  # 310000 -> 310100
    area = city + rng.integers(1, 20, n)  # a district of the city: 310104, 440305
    birth = np.asarray(birth_days, dtype=np.int64).astype("datetime64[D]")
    ymd = np.char.replace(np.datetime_as_string(birth, unit="D"), "-", "").astype(np.int64)
    seq = rng.integers(1, 999, n)
    digits = np.empty((n, 17), dtype=np.int64)
    for i in range(6):
        digits[:, i] = area // 10 ** (5 - i) % 10
    for i in range(8):
        digits[:, 6 + i] = ymd // 10 ** (7 - i) % 10
    for i in range(3):
        digits[:, 14 + i] = seq // 10 ** (2 - i) % 10
    check = pick(_ID_CHECK, (digits @ _ID_WEIGHTS) % 11)
    body = area * 10**11 + ymd * 1000 + seq
    return concat_strings(number_strings(body), check)


_PHONE_PREFIX = np.array([130, 131, 132, 133, 135, 136, 137, 138, 139, 150, 151, 152, 155, 157, 158, 159, 166,
                          173, 176, 177, 180, 181, 182, 185, 186, 187, 188, 189, 191, 198, 199])  # fmt: skip


def phone_numbers(rng: np.random.Generator, n: int) -> pa.Array:
    numbers = rng.choice(_PHONE_PREFIX, n) * 10**8 + rng.integers(0, 10**8, n)
    return number_strings(numbers)
